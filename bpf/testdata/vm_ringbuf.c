// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture for pkg/bpfvm: a ring buffer used through reserve/submit,
 * reserve/discard and output, with the caller's identity in each event,
 * bpf_printk, and the mistakes the interpreter must catch (use of a record
 * after submit, a record never submitted).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct vm_args {
	__u64 in;
	__u64 out[8];
};

struct event {
	__u64 seq;
	__u32 pid;
	__u32 uid;
	char tag[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("syscall")
int emit(struct vm_args *a)
{
	struct event *e, o = {};
	__u64 uid = bpf_get_current_uid_gid() & 0xffffffff;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		a->out[0] = 1;
		return 0;
	}
	e->seq = a->in;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = uid;
	__builtin_memcpy(e->tag, "reserve", 8);
	if (a->in & 1)
		bpf_ringbuf_discard(e, 0);
	else
		bpf_ringbuf_submit(e, 0);

	o.seq = a->in;
	o.uid = uid;
	__builtin_memcpy(o.tag, "output", 7);
	a->out[1] = bpf_ringbuf_output(&events, &o, sizeof(o), 0);
	a->out[2] = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bpf_printk("emit %llu uid %u tag %s", a->in, (__u32)uid, o.tag);
	return 0;
}

SEC("syscall")
int use_after_submit(struct vm_args *a)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return -1;
	bpf_ringbuf_submit(e, 0);
	*(volatile __u64 *)&e->seq = a->in;
	return 0;
}

/* Reserves and forgets to submit (the kernel verifier would refuse it). */
SEC("syscall")
int leak(struct vm_args *a)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return -1;
	e->seq = a->in;
	return 0;
}
