package bpfvm_test

import (
	"encoding/binary"
	"fmt"
	"log"

	"github.com/cilium/ebpf"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/bpfvm"
)

// A struct_ops callback written with BPF_PROG, run for two requests. The
// object's .rodata parameter hidden_count is set per instance.
func Example() {
	spec, err := ebpf.LoadCollectionSpec("../../bpf/testdata/vm_bench.o")
	if err != nil {
		log.Fatal(err)
	}
	if err := spec.Variables["hidden_count"].Set(uint32(2)); err != nil {
		log.Fatal(err)
	}
	coll, err := bpfvm.NewCollection(spec, nil)
	if err != nil {
		log.Fatal(err)
	}
	// uid 1000 may do operation 3.
	key := binary.LittleEndian.AppendUint32(nil, 1000)
	if err := coll.Maps["allowed_ops"].Update(key, binary.LittleEndian.AppendUint32(nil, 1<<3), ebpf.UpdateAny); err != nil {
		log.Fatal(err)
	}
	check := coll.Programs["check"]
	fmt.Println(check.AttachTo())

	for _, name := range []string{"notes.txt", ".git"} {
		r := check.NewRun()
		// struct vm_req { u32 uid; u32 op; char name[16]; }
		req := make([]byte, 24)
		binary.LittleEndian.PutUint32(req, 1000)
		binary.LittleEndian.PutUint32(req[4:], 3)
		copy(req[8:], name)
		reqAddr, _ := r.MapBytes(req, bpfvm.ReadOnly)
		// BPF_PROG(check, struct vm_req *req) reads its arguments from a u64 array.
		ctx, _ := r.MapBytes(binary.LittleEndian.AppendUint64(nil, reqAddr), bpfvm.ReadOnly)
		ret, err := r.Exec(ctx)
		r.Release()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d\n", name, int32(ret))
	}
	// Output:
	// vm_ops:check
	// notes.txt: 0
	// .git: -2
}
