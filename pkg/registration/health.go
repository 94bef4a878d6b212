package registration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
)

// DefaultProbeTimeout bounds one /healthz request when [Health.Timeout] is zero,
// the same default as livenessprobe's --probe-timeout.
const DefaultProbeTimeout = time.Second

// Check is one named health check. Func returns nil when healthy; it must
// honour ctx's deadline.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Health is an [http.Handler] for /healthz: 200 "ok" when every check passes,
// 500 with one "name: error" line per failing check otherwise.
type Health struct {
	// Checks run in order, each under the request's deadline.
	Checks []Check
	// Timeout bounds the whole request; zero means [DefaultProbeTimeout].
	Timeout time.Duration
}

var _ http.Handler = (*Health)(nil)

// ServeHTTP runs the checks.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	var failed []string
	for _, c := range h.Checks {
		if err := c.Func(ctx); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", c.Name, err))
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = fmt.Fprintln(w, strings.Join(failed, "\n"))
		return
	}
	_, _ = fmt.Fprintln(w, "ok")
}

// ServeHealth serves h at /healthz on addr (e.g. ":9808") until ctx is done.
// A cancelled ctx is a clean stop and returns nil.
func ServeHealth(ctx context.Context, addr string, h http.Handler) error {
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("healthz: %w", err)
	}
	return serveHealth(ctx, lis, h)
}

func serveHealth(ctx context.Context, lis net.Listener, h http.Handler) error {
	mux := http.NewServeMux()
	mux.Handle("/healthz", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("healthz: %w", err)
	}
}

// CSIProber calls the CSI Identity Probe over a plugin's socket, as
// livenessprobe does. The connection is made lazily and re-made after
// failures, so a prober can be created before the plugin listens.
type CSIProber struct {
	conn *grpc.ClientConn
}

// NewCSIProber returns a prober for endpoint, given as unix:///path or /path.
func NewCSIProber(endpoint string) (*CSIProber, error) {
	target := endpoint
	if strings.HasPrefix(target, "/") {
		target = "unix://" + target
	}
	if !strings.HasPrefix(target, "unix://") {
		return nil, fmt.Errorf("%w: csi endpoint %q is not a unix socket", ErrInvalidOptions, endpoint)
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// A plugin that restarts must look healthy again at the next probe,
		// not after grpc's default backoff of up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		return nil, fmt.Errorf("csi probe: %w", err)
	}
	return &CSIProber{conn: conn}, nil
}

// Check calls Probe; a transport error or ready=false is unhealthy. An absent
// ready field means ready, as the CSI spec says.
func (p *CSIProber) Check(ctx context.Context) error {
	if p.conn.GetState() == connectivity.TransientFailure {
		p.conn.ResetConnectBackoff()
	}
	// WaitForReady: wait for the (re)connection within ctx's deadline rather
	// than fail on the first transient dial error.
	resp, err := csi.NewIdentityClient(p.conn).Probe(ctx, &csi.ProbeRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("csi probe: %w", err)
	}
	if r := resp.GetReady(); r != nil && !r.GetValue() {
		return ErrNotReady
	}
	return nil
}

// Close releases the connection.
func (p *CSIProber) Close() error {
	return p.conn.Close()
}
