package kube

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// Defaults of [Options], those of the Kubernetes controllers.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
	// LeaseName is the Lease controllers elect their leader with.
	LeaseName = "fusebpf-csi-controller"
)

// Options configure the API connection and, for the controller, leader
// election. Fill them with [Options.AddFlags] or by hand, then call
// [Options.Validate].
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster
	// configuration, then $KUBECONFIG.
	Kubeconfig string
	// LeaderElection makes the controller run only while it holds the
	// Lease LeaseName in LeaderElectionNamespace.
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration
	// Workers is how many policies are reconciled at once.
	Workers int
}

// AddFlags registers the options as flags on fs.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	o.defaults()
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file (default: in-cluster configuration, then $KUBECONFIG)")
	fs.BoolVar(&o.LeaderElection, "leader-election", o.LeaderElection, "run the FilterPolicy controller only while holding the leader Lease")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "namespace of the leader Lease (default: the pod's namespace)")
	fs.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", o.LeaseDuration, "how long a leader's Lease lasts without renewal")
	fs.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", o.RenewDeadline, "how long the leader keeps trying to renew before giving up")
	fs.DurationVar(&o.RetryPeriod, "leader-election-retry-period", o.RetryPeriod, "how often candidates try to acquire or renew the Lease")
	fs.IntVar(&o.Workers, "controller-workers", o.Workers, "FilterPolicies reconciled at once")
}

func (o *Options) defaults() {
	if o.LeaseDuration == 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewDeadline == 0 {
		o.RenewDeadline = DefaultRenewDeadline
	}
	if o.RetryPeriod == 0 {
		o.RetryPeriod = DefaultRetryPeriod
	}
	if o.Workers == 0 {
		o.Workers = 2
	}
}

// Validate checks the options and fills in defaults.
func (o *Options) Validate() error {
	o.defaults()
	var errs []error
	if o.LeaderElection {
		if o.LeaderElectionNamespace == "" {
			o.LeaderElectionNamespace = inClusterNamespace()
		}
		if o.LeaderElectionNamespace == "" {
			errs = append(errs, errors.New("--leader-election-namespace is required outside a pod"))
		}
		if o.LeaseDuration <= o.RenewDeadline {
			errs = append(errs, errors.New("--leader-election-lease-duration must exceed --leader-election-renew-deadline"))
		}
		if o.RenewDeadline <= o.RetryPeriod {
			errs = append(errs, errors.New("--leader-election-renew-deadline must exceed --leader-election-retry-period"))
		}
	}
	if o.Workers < 1 {
		errs = append(errs, errors.New("--controller-workers must be at least 1"))
	}
	return errors.Join(errs...)
}

const namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func inClusterNamespace() string {
	b, err := os.ReadFile(namespaceFile)
	if err != nil {
		return ""
	}
	return string(b)
}

// RESTConfig returns the API server configuration the options select.
func (o *Options) RESTConfig() (*rest.Config, error) {
	if o.Kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", o.Kubeconfig, err)
		}
		return cfg, nil
	}
	// Only an explicit --kubeconfig or the pod's service account: a driver
	// started by hand must not pick up whatever cluster an admin's
	// ~/.kube/config points at.
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("no API server configuration: not in a cluster (%v) and no --kubeconfig", err)
	}
	return cfg, nil
}

// RunController runs the FilterPolicy controller against the API server
// cfg describes until ctx ends, under leader election when the options
// ask for it. Losing the lease ends the run with an error, so that the
// process restarts and competes again with fresh caches.
func RunController(ctx context.Context, cfg *rest.Config, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	client, err := NewForConfig(cfg)
	if err != nil {
		return err
	}
	if !o.LeaderElection {
		return NewController(client).Run(ctx, o.Workers)
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	host, _ := os.Hostname()
	id := host + "_" + rand.String(8)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  leaseMeta(o.LeaderElectionNamespace),
		Client:     core.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	logger := klog.FromContext(ctx).WithValues("lease", o.LeaderElectionNamespace+"/"+LeaseName, "identity", id)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The elector calls back on its own goroutines; the controller runs
	// here, so that its result is ours and nothing outlives this call.
	leading := make(chan context.Context, 1)
	var lost atomic.Bool
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.LeaseDuration,
		RenewDeadline:   o.RenewDeadline,
		RetryPeriod:     o.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) { leading <- ctx },
			OnStoppedLeading: func() {
				if runCtx.Err() == nil {
					lost.Store(true)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	elected := make(chan struct{})
	go func() {
		defer close(elected)
		le.Run(runCtx)
	}()
	var runErr error
	select {
	case lctx := <-leading:
		logger.Info("Leading")
		runErr = NewController(client).Run(lctx, o.Workers)
	case <-elected:
	}
	cancel()
	<-elected
	if lost.Load() {
		return errors.New("leader election: lost the lease")
	}
	return runErr
}

func leaseMeta(namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: LeaseName}
}
