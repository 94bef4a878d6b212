// SPDX-License-Identifier: GPL-2.0
/*
 * A Reno congestion control as a tcp_congestion_ops struct_ops instance:
 * the in-tree struct_ops type the tests use to run the kernel tier's
 * loader (map creation, program load against attach targets, registration
 * by name, use by a socket, unregistration) on a stock kernel. It has its
 * own minimal kernel types with CO-RE attributes, so it also exercises
 * relocation against the running kernel's BTF.
 */
#include <linux/types.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct sock {
	char _opaque;
};

struct tcp_sock {
	__u32 snd_cwnd;
	__u32 snd_cwnd_cnt;
	__u32 snd_cwnd_clamp;
	__u32 snd_ssthresh;
	__u32 prior_cwnd;
};

/* Only the members this file sets; the loader matches members by name. */
struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	char name[16];
	void (*init)(struct sock *sk);
};
#pragma clang attribute pop

/* A per-instance parameter, set by the loader like a policy parameter. */
const volatile __u64 tag = 0;

/* What the tests read back: proof the callbacks ran in this instance. */
__u64 inits = 0;
__u64 acks = 0;
__u64 seen_tag = 0;

static __always_inline struct tcp_sock *tcp_sk(struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

SEC("struct_ops")
void BPF_PROG(fb_reno_init, struct sock *sk)
{
	__sync_fetch_and_add(&inits, 1);
	seen_tag = tag;
}

SEC("struct_ops")
__u32 BPF_PROG(fb_reno_ssthresh, struct sock *sk)
{
	__u32 half = tcp_sk(sk)->snd_cwnd >> 1;

	return half > 2 ? half : 2;
}

SEC("struct_ops")
void BPF_PROG(fb_reno_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tcp_sk(sk);
	__u32 cwnd = tp->snd_cwnd;
	__u32 cnt;

	__sync_fetch_and_add(&acks, 1);

	if (cwnd < tp->snd_ssthresh) {
		/* Slow start: one segment per segment acked, up to ssthresh. */
		cwnd += acked;
		if (cwnd > tp->snd_ssthresh)
			cwnd = tp->snd_ssthresh;
	} else if (cwnd > 0) {
		/* Congestion avoidance: one segment per window acked. */
		__u32 w = cwnd;

		cnt = tp->snd_cwnd_cnt + acked;
		if (cnt >= w) {
			cwnd += cnt / w;
			cnt %= w;
		}
		tp->snd_cwnd_cnt = cnt;
	}
	if (cwnd > tp->snd_cwnd_clamp)
		cwnd = tp->snd_cwnd_clamp;
	tp->snd_cwnd = cwnd;
}

SEC("struct_ops")
__u32 BPF_PROG(fb_reno_undo_cwnd, struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);

	return tp->snd_cwnd > tp->prior_cwnd ? tp->snd_cwnd : tp->prior_cwnd;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops fb_reno = {
	.init = (void *)fb_reno_init,
	.ssthresh = (void *)fb_reno_ssthresh,
	.cong_avoid = (void *)fb_reno_cong_avoid,
	.undo_cwnd = (void *)fb_reno_undo_cwnd,
	.name = "fb_reno",
};
