// Package e2e holds the end-to-end suite of fusebpf-csi: it runs against the
// cluster in $KUBECONFIG (normally the kind cluster of deploy/kind/up.sh) with
// the chart installed, and asserts every scenario from inside pods.
//
//	cd test/e2e && go test -count=1 -timeout 40m -v . -args -uninstall
//
// Flags (after -args) name the release, the chart, the test image and the
// hostPath dataset root; see flags in e2e_test.go. The suite is its own Go
// module so that client-go stays out of the driver's module.
package e2e
