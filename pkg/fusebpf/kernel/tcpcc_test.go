package kernel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// registerTCPCC registers bpf/testdata/tcp_cc.o through Register, or
// skips if this kernel cannot register tcp_congestion_ops.
func registerTCPCC(t *testing.T, opts RegisterOptions) *Instance {
	t.Helper()
	inst, err := Register(loadCollectionSpec(t, "tcp_cc.o"), opts)
	if errors.Is(err, ErrNotSupported) {
		t.Skipf("kernel lacks struct_ops tcp_congestion_ops: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return inst
}

// uniqueVolume makes a volume ID, and so instance names, unique to this
// test process: names are kernel-wide and other test runs may share the
// kernel.
func uniqueVolume(base string) string {
	return fmt.Sprintf("%s-%d-%d", base, os.Getpid(), time.Now().UnixNano())
}

func setCongestion(c syscall.RawConn, name string) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, name)
	}); err != nil {
		return err
	}
	return serr
}

func getCongestion(t *testing.T, c *net.TCPConn) string {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		name, gerr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return name
}

func readU64(t *testing.T, inst *Instance, name string) uint64 {
	t.Helper()
	v, ok := inst.Collection().Variables[name]
	if !ok {
		t.Fatalf("variable %s missing", name)
	}
	var out uint64
	if err := v.Get(&out); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return out
}

// TestTCPCongestionOpsThroughLoader runs the kernel tier's loader against
// this real kernel with an in-tree struct_ops type: the instance is
// registered under its volume-derived name with a per-volume parameter,
// a loopback TCP connection selects it and moves data through it, and
// after Close the name is gone.
func TestTCPCongestionOpsThroughLoader(t *testing.T) {
	volume := uniqueVolume("pvc-tcp-cc-loader")
	const tag = uint64(0xfeedf00d)
	inst := registerTCPCC(t, RegisterOptions{VolumeID: volume, Constants: map[string]any{"tag": tag}})

	want, _ := InstanceName(volume, 0)
	if inst.Name() != want || inst.Type() != "tcp_congestion_ops" {
		t.Fatalf("registered %s %q, want tcp_congestion_ops %q", inst.Type(), inst.Name(), want)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const total = 16 << 20
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()

	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return setCongestion(c, inst.Name())
	}}
	conn, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with TCP_CONGESTION=%s: %v", inst.Name(), err)
	}
	tc := conn.(*net.TCPConn)
	if got := getCongestion(t, tc); got != inst.Name() {
		t.Fatalf("socket uses %q, want %q", got, inst.Name())
	}
	buf := make([]byte, 64<<10)
	for sent := 0; sent < total; sent += len(buf) {
		if _, err := tc.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if got := getCongestion(t, tc); got != inst.Name() {
		t.Fatalf("after the transfer the socket uses %q, want %q", got, inst.Name())
	}
	tc.Close()
	if n := <-received; n != total {
		t.Fatalf("server received %d bytes, want %d", n, total)
	}

	t.Logf("inits=%d acks=%d", readU64(t, inst, "inits"), readU64(t, inst, "acks"))
	if n := readU64(t, inst, "inits"); n < 1 {
		t.Errorf("init callback ran %d times, want at least once", n)
	}
	if n := readU64(t, inst, "acks"); n < 1 {
		t.Errorf("cong_avoid callback ran %d times, want at least once", n)
	}
	if got := readU64(t, inst, "seen_tag"); got != tag {
		t.Errorf("callback saw parameter tag %#x, want %#x", got, tag)
	}

	if err := inst.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	err = unix.SetsockoptString(s, unix.IPPROTO_TCP, unix.TCP_CONGESTION, inst.Name())
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("TCP_CONGESTION=%s after Close: %v, want ENOENT", inst.Name(), err)
	}
}

// TestRegisterRetriesTakenName registers two instances for one volume ID:
// the kernel refuses the first name with EEXIST and the loader moves to
// the next candidate. An explicit name is not retried and the error says
// what to fix.
func TestRegisterRetriesTakenName(t *testing.T) {
	volume := uniqueVolume("pvc-tcp-cc-retry")
	first := registerTCPCC(t, RegisterOptions{VolumeID: volume})
	second := registerTCPCC(t, RegisterOptions{VolumeID: volume})
	want0, _ := InstanceName(volume, 0)
	want1, _ := InstanceName(volume, 1)
	if first.Name() != want0 || second.Name() != want1 {
		t.Fatalf("names %q, %q; want %q, %q", first.Name(), second.Name(), want0, want1)
	}

	_, err := Register(loadCollectionSpec(t, "tcp_cc.o"), RegisterOptions{Name: want0})
	var ke *Error
	if !errors.Is(err, unix.EEXIST) || !errors.As(err, &ke) || ke.Phase != PhaseRegister || ke.Hint == "" {
		t.Fatalf("explicit taken name: %v, want a register-phase EEXIST with a hint", err)
	}

	// Once unregistered, the name is free again.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := registerTCPCC(t, RegisterOptions{VolumeID: volume})
	if again.Name() != want0 {
		t.Fatalf("after Close the volume registered as %q, want %q", again.Name(), want0)
	}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	spec := loadCollectionSpec(t, "tcp_cc.o")
	for _, tc := range []struct {
		name string
		opts RegisterOptions
		want error
	}{
		{"no name", RegisterOptions{}, ErrInvalidName},
		{"bad character", RegisterOptions{Name: "fb-dash"}, ErrInvalidName},
		{"too long", RegisterOptions{Name: "fb0123456789abc"}, ErrInvalidName},
	} {
		if _, err := Register(spec, tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := Register(spec, RegisterOptions{Name: "fbunknown", Constants: map[string]any{"nope": uint64(1)}}); err == nil {
		t.Error("unknown constant accepted")
	}
	if _, err := Register(spec, RegisterOptions{Name: "fbmutable", Constants: map[string]any{"inits": uint64(1)}}); err == nil {
		t.Error("non-constant global accepted as a constant")
	}
	empty := spec.Copy()
	for name, ms := range empty.Maps {
		if ms.Type.String() == "StructOpsMap" {
			delete(empty.Maps, name)
		}
	}
	if _, err := Register(empty, RegisterOptions{Name: "fbnone"}); !errors.Is(err, ErrNoStructOps) {
		t.Errorf("object without struct_ops: %v, want ErrNoStructOps", err)
	}
}
