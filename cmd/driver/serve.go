package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/csi"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/registration"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/version"
)

func init() {
	register(&command{name: "serve", summary: "run the CSI driver (identity, controller and/or node services)", run: runServe})
}

// resolverSyncTimeout bounds the wait for the FilterPolicy caches at
// start-up; an unreachable API server fails the start instead of hanging.
const resolverSyncTimeout = 2 * time.Minute

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlags("serve", "", `Serve the CSI services on a unix socket until SIGINT or SIGTERM.
Filtered mounts are served from this process; when it stops they become
dead until the next start re-serves them (--recover-mounts).`, stderr)
	var o csi.Options
	o.AddFlags(fs)
	var ko kube.Options // --kubeconfig, --leader-election*, --controller-workers
	ko.AddFlags(fs)
	metricsAddr := fs.String("metrics-address", "", "serve Prometheus metrics (audit counters) at http://ADDRESS/metrics; empty: off")
	regPath := fs.String("kubelet-registration-path", "", "serve kubelet plugin registration, announcing this host path of the CSI socket\n(e.g. /var/lib/kubelet/plugins/fusebpf.csi.io/csi.sock); empty: a node-driver-registrar sidecar registers the plugin")
	regDir := fs.String("plugin-registration-dir", "/registration", "directory kubelet watches for plugin sockets (<kubelet-dir>/plugins_registry, mounted)")
	healthPort := fs.Int("health-port", 0, "serve /healthz on this TCP port (CSI Probe, and registration when served); 0: off")
	// Of klog's flags only the verbosity ones; logs go to stderr.
	kfs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(kfs)
	for _, n := range []string{"v", "vmodule"} {
		f := kfs.Lookup(n)
		fs.Var(f.Value, n, f.Usage)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{msg: fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	if err := o.Validate(); err != nil {
		return usageError{msg: err.Error()}
	}
	if err := ko.Validate(); err != nil {
		return usageError{msg: err.Error()}
	}
	defer klog.Flush()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 8)
	if cfg, err := ko.RESTConfig(); err != nil {
		// Standalone (csi-sanity, a lone node): policies are the
		// built-ins.
		klog.InfoS("No Kubernetes API server: StorageClass policies name built-ins; FilterPolicy controller and FuseBPFNode publishing are off", "err", err)
	} else {
		client, err := kube.NewForConfig(cfg)
		if err != nil {
			return err
		}
		// The FilterPolicy controller runs in the controller Deployment
		// (with leader election), not in every node's plugin.
		if o.Mode == csi.ModeController {
			go func() { errc <- kube.RunController(ctx, cfg, ko) }()
		}
		if o.Mode != csi.ModeController {
			core, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			pub := &kube.NodePublisher{Client: client, Core: core, NodeName: o.NodeID, Probe: kube.KernelProbe(version.Version)}
			go func() { errc <- pub.Run(ctx) }()
			// StorageClass policies name FilterPolicies.
			// The informers live as long as ctx; only the wait for their
			// first sync is bounded.
			r := kube.NewResolver(client)
			started := make(chan error, 1)
			go func() { started <- r.Start(ctx) }()
			select {
			case err := <-started:
				if err != nil {
					return fmt.Errorf("FilterPolicy resolver: API server %s: %w", cfg.Host, err)
				}
			case <-time.After(resolverSyncTimeout):
				return fmt.Errorf("FilterPolicy resolver: API server %s: caches not synced after %s", cfg.Host, resolverSyncTimeout)
			}
			o.Policies = r
		}
	}
	d, err := csi.New(o)
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		srv := &http.Server{Addr: *metricsAddr, Handler: promhttp.HandlerFor(csi.Registry, promhttp.HandlerOpts{}),
			ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- fmt.Errorf("metrics: %w", srv.ListenAndServe()) }()
		go func() { <-ctx.Done(); srv.Close() }()
	}
	go func() { errc <- d.Run(ctx) }()
	wait, err := serveRegistration(ctx, errc, o.Endpoint, *regPath, *regDir, *healthPort)
	if err != nil {
		return err
	}
	err = <-errc
	cancel()
	wait() // the registration socket is gone: kubelet deregisters the plugin
	return err
}

// serveRegistration starts, when asked, the kubelet plugin registration
// server and /healthz beside the driver; they report to errc. Registration
// waits until the CSI socket answers Probe, since kubelet calls NodeGetInfo as
// soon as it has registered the plugin. wait returns once they have stopped
// after ctx ends.
func serveRegistration(ctx context.Context, errc chan<- error, endpoint, regPath, regDir string, healthPort int) (wait func(), err error) {
	var wg sync.WaitGroup
	if regPath == "" && healthPort == 0 {
		return wg.Wait, nil
	}
	prober, err := registration.NewCSIProber(endpoint)
	if err != nil {
		return nil, usageError{msg: err.Error()}
	}
	wg.Go(func() { <-ctx.Done(); prober.Close() })
	checks := []registration.Check{{Name: "csi", Func: prober.Check}}
	if regPath != "" {
		reg, err := registration.New(registration.Options{
			DriverName: csi.DriverName,
			Endpoint:   regPath,
			SocketPath: filepath.Join(regDir, csi.DriverName+"-reg.sock"),
			Ready:      prober.Check,
		})
		if err != nil {
			return nil, usageError{msg: err.Error()}
		}
		checks = append(checks, registration.Check{Name: "registration", Func: reg.Check})
		wg.Go(func() { errc <- reg.Serve(ctx) })
	}
	if healthPort != 0 {
		wg.Go(func() {
			errc <- registration.ServeHealth(ctx, fmt.Sprintf(":%d", healthPort), &registration.Health{Checks: checks})
		})
	}
	return wg.Wait, nil
}
