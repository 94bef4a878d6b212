// Package registration lets the node plugin stand in for the two sidecars a CSI
// node plugin usually runs beside it: node-driver-registrar and livenessprobe.
//
// [Server] serves the kubelet plugin-registration API
// (k8s.io/kubelet/pkg/apis/pluginregistration/v1) on
// <kubelet-dir>/plugins_registry/<driver>-reg.sock: kubelet's plugin watcher
// finds the socket, calls GetInfo to learn the driver name and CSI endpoint,
// and reports the outcome with NotifyRegistrationStatus.
//
// [Health] is an HTTP handler for /healthz that runs a list of [Check]s, such as
// [CSIProber.Check] (the CSI Identity Probe over the plugin's own socket, as
// livenessprobe does) and [Server.Check] (kubelet did not reject the plugin and
// the registration socket is still in place).
//
// Offline clusters, which have no sidecar images, need these; real clusters may
// use either.
package registration
