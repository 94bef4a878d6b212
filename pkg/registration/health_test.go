package registration

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// identity is a CSI Identity service whose Probe answers with ready.
type identity struct {
	csi.UnimplementedIdentityServer
	ready atomic.Bool
}

func (i *identity) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(i.ready.Load())}, nil
}

func serveIdentity(t *testing.T, sock string, id *identity) *grpc.Server {
	t.Helper()
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	csi.RegisterIdentityServer(srv, id)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return srv
}

func TestCSIProber(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "csi.sock")
	p, err := NewCSIProber("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()

	// Before the plugin listens: unhealthy, not a hang.
	cctx, cancel := context.WithTimeout(ctx, DefaultProbeTimeout)
	err = p.Check(cctx)
	cancel()
	if err == nil {
		t.Fatal("Check succeeded with nothing listening")
	}

	id := &identity{}
	id.ready.Store(true)
	srv := serveIdentity(t, sock, id)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check on a ready plugin: %v", err)
	}
	id.ready.Store(false)
	if err := p.Check(ctx); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Check on a not-ready plugin = %v, want ErrNotReady", err)
	}
	srv.Stop()
	cctx, cancel = context.WithTimeout(ctx, DefaultProbeTimeout)
	defer cancel()
	if err := p.Check(cctx); err == nil {
		t.Fatal("Check succeeded after the plugin stopped")
	}
}

func TestNewCSIProberRejectsTCP(t *testing.T) {
	if _, err := NewCSIProber("tcp://127.0.0.1:10000"); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("err = %v, want ErrInvalidOptions", err)
	}
}

func TestHealthHandler(t *testing.T) {
	ok := Check{Name: "csi", Func: func(context.Context) error { return nil }}
	bad := Check{Name: "registration", Func: func(context.Context) error { return ErrRejected }}
	hang := Check{Name: "slow", Func: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	for _, tc := range []struct {
		name     string
		checks   []Check
		code     int
		contains []string
	}{
		{"all pass", []Check{ok, ok}, http.StatusOK, []string{"ok"}},
		{"one fails", []Check{ok, bad}, http.StatusInternalServerError, []string{"registration: " + ErrRejected.Error()}},
		{"hang is bounded", []Check{hang, bad}, http.StatusInternalServerError, []string{"slow: context deadline exceeded", "registration:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			(&Health{Checks: tc.checks}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if rec.Code != tc.code {
				t.Fatalf("code = %d, want %d; body %q", rec.Code, tc.code, rec.Body.String())
			}
			for _, s := range tc.contains {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("body %q lacks %q", rec.Body.String(), s)
				}
			}
		})
	}
}

// The /healthz endpoint end to end: a real CSI socket, a real registration
// socket and an HTTP listener, as the node plugin wires them.
func TestServeHealthEndToEnd(t *testing.T) {
	dir := t.TempDir()
	id := &identity{}
	id.ready.Store(true)
	serveIdentity(t, filepath.Join(dir, "csi.sock"), id)
	p, err := NewCSIProber(filepath.Join(dir, "csi.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	reg, stopReg := startServer(t, filepath.Join(dir, testDriver+"-reg.sock"))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveHealth(ctx, lis, &Health{Checks: []Check{{"csi", p.Check}, {"registration", reg.Check}}})
	}()
	get := func() (int, string) {
		resp, err := http.Get("http://" + lis.Addr().String() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK {
		t.Fatalf("healthy plugin: %d %q", code, body)
	}
	id.ready.Store(false)
	if code, body := get(); code != http.StatusInternalServerError || !strings.Contains(body, "csi: "+ErrNotReady.Error()) {
		t.Fatalf("not-ready plugin: %d %q", code, body)
	}
	id.ready.Store(true)
	if err := stopReg(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != http.StatusOK {
		// A stopped registration server is not serving, so its socket is
		// not expected; only a rejection or a vanished socket while serving fails.
		t.Fatalf("after registration stop: %d %q", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serveHealth after cancel = %v", err)
	}
}

func TestServeHealthBadAddress(t *testing.T) {
	if err := ServeHealth(context.Background(), "256.0.0.1:http", &Health{}); err == nil {
		t.Fatal("ServeHealth on an invalid address succeeded")
	}
}
