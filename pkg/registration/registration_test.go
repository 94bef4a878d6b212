package registration

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

const testDriver = "fusebpf.csi.io"

// startServer runs a Server on a fresh socket and returns it with a function
// that stops it and reports Serve's result.
func startServer(t *testing.T, sock string) (*Server, func() error) {
	t.Helper()
	s, err := New(Options{DriverName: testDriver, Endpoint: "/var/lib/kubelet/plugins/fusebpf.csi.io/csi.sock", SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	waitServing(t, s, done)
	stop := func() error { cancel(); return <-done }
	t.Cleanup(func() { cancel() })
	return s, stop
}

// waitServing waits until s listens on its own socket, failing if Serve returned.
func waitServing(t *testing.T, s *Server, done chan error) {
	t.Helper()
	for {
		select {
		case err := <-done:
			t.Fatalf("Serve returned early: %v", err)
		default:
		}
		s.mu.Lock()
		serving := s.serving
		s.mu.Unlock()
		if serving {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kubelet dials the socket as kubelet's plugin watcher does.
func kubelet(t *testing.T, sock string) registerapi.RegistrationClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return registerapi.NewRegistrationClient(conn)
}

func TestKubeletRegistrationHandshake(t *testing.T) {
	sock := filepath.Join(t.TempDir(), testDriver+"-reg.sock")
	s, stop := startServer(t, sock)
	k := kubelet(t, sock)
	ctx := context.Background()

	info, err := k.GetInfo(ctx, &registerapi.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != registerapi.CSIPlugin || info.Name != testDriver ||
		info.Endpoint != "/var/lib/kubelet/plugins/fusebpf.csi.io/csi.sock" ||
		len(info.SupportedVersions) != 1 || info.SupportedVersions[0] != "1.0.0" {
		t.Fatalf("GetInfo = %+v", info)
	}
	if st := s.Status(); st.Notified {
		t.Fatalf("status before notification = %+v", st)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check before kubelet answered: %v", err)
	}

	if _, err := k.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: true}); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); !st.Notified || !st.Registered {
		t.Fatalf("status after success = %+v", st)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check after registration: %v", err)
	}

	if _, err := k.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: false, Error: "version mismatch"}); err != nil {
		t.Fatal(err)
	}
	err = s.Check(ctx)
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("Check after rejection = %v, want ErrRejected", err)
	}
	if st := s.Status(); st.Registered || st.Error != "version mismatch" {
		t.Fatalf("status after rejection = %+v", st)
	}

	if err := stop(); err != nil {
		t.Fatalf("Serve after cancel = %v", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after stop: %v", err)
	}
}

func TestServeReplacesStaleSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), testDriver+"-reg.sock")
	// A socket file left by a crashed predecessor.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	_, stop := startServer(t, sock)
	if _, err := kubelet(t, sock).GetInfo(context.Background(), &registerapi.InfoRequest{}); err != nil {
		t.Fatalf("GetInfo on replaced socket: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestServeRefusesToRemoveNonSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), testDriver+"-reg.sock")
	if err := os.WriteFile(sock, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{DriverName: testDriver, Endpoint: "/csi/csi.sock", SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background()); !errors.Is(err, ErrNotSocket) {
		t.Fatalf("Serve = %v, want ErrNotSocket", err)
	}
	if b, err := os.ReadFile(sock); err != nil || string(b) != "data" {
		t.Fatalf("file changed: %q, %v", b, err)
	}
}

func TestCheckFailsWhenSocketRemoved(t *testing.T) {
	sock := filepath.Join(t.TempDir(), testDriver+"-reg.sock")
	s, stop := startServer(t, sock)
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); !errors.Is(err, ErrSocketMissing) {
		t.Fatalf("Check = %v, want ErrSocketMissing", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// An old instance that stops after its successor took over the path must not
// remove the successor's socket: that would deregister the driver.
func TestStoppingPredecessorKeepsSuccessorSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), testDriver+"-reg.sock")
	_, stopOld := startServer(t, sock)
	_, stopNew := startServer(t, sock)
	if err := stopOld(); err != nil {
		t.Fatal(err)
	}
	if _, err := kubelet(t, sock).GetInfo(context.Background(), &registerapi.InfoRequest{}); err != nil {
		t.Fatalf("successor unreachable after predecessor stopped: %v", err)
	}
	if err := stopNew(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after successor stopped: %v", err)
	}
}

// Kubelet must not see the registration socket before the CSI socket answers.
func TestServeWaitsForReady(t *testing.T) {
	sock := filepath.Join(t.TempDir(), testDriver+"-reg.sock")
	var ready atomic.Bool
	calls := make(chan struct{}, 100)
	s, err := New(Options{DriverName: testDriver, Endpoint: "/csi/csi.sock", SocketPath: sock,
		Ready: func(context.Context) error {
			calls <- struct{}{}
			if !ready.Load() {
				return ErrNotReady
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	<-calls
	<-calls // polled twice: not ready, so no socket yet
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket exists before the plugin is ready: %v", err)
	}
	ready.Store(true)
	waitServing(t, s, done)
	if _, err := kubelet(t, sock).GetInfo(ctx, &registerapi.InfoRequest{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A plugin stopped before it ever became ready stops cleanly.
func TestServeCancelledWhileWaiting(t *testing.T) {
	sock := filepath.Join(t.TempDir(), testDriver+"-reg.sock")
	s, err := New(Options{DriverName: testDriver, Endpoint: "/csi/csi.sock", SocketPath: sock,
		Ready: func(context.Context) error { return ErrNotReady }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Serve(ctx); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket created: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"valid", Options{DriverName: testDriver, Endpoint: "/csi/csi.sock", SocketPath: "/registration/x-reg.sock"}, true},
		{"no driver", Options{Endpoint: "/csi/csi.sock", SocketPath: "/r/x.sock"}, false},
		{"relative endpoint", Options{DriverName: testDriver, Endpoint: "csi.sock", SocketPath: "/r/x.sock"}, false},
		{"unix url endpoint", Options{DriverName: testDriver, Endpoint: "unix:///csi/csi.sock", SocketPath: "/r/x.sock"}, false},
		{"relative socket", Options{DriverName: testDriver, Endpoint: "/csi/csi.sock", SocketPath: "x.sock"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if tc.ok != (err == nil) {
				t.Fatalf("New = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("error %v is not ErrInvalidOptions", err)
			}
		})
	}
}
