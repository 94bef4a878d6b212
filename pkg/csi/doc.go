// Package csi is the fusebpf-csi CSI driver: the Identity, Controller and
// Node gRPC services, their options, and the mapping of errors to gRPC
// status codes (the only place in the project that knows about codes).
//
// Volumes are directories seen through a fusebpf filtered mount. A volume's
// backing is either "local", a directory created for it under the plugin's
// data directory, or "hostPath", an existing directory below one of the
// allowed backing roots. Both are node-local: volume IDs name the node, and
// the topology key fusebpf.csi.io/node pins every volume to it, so the
// controller service runs next to the node service (external-provisioner
// --node-deployment) and NodeStageVolume needs no shared database.
//
// NodeStageVolume mounts the filtered view at the staging path with
// [fusebpf.Mount]; NodePublishVolume bind-mounts it to each target,
// read-only when asked. The userspace FUSE server runs inside this process,
// so the node keeps a record of every staged volume in a [state.Store] and,
// at start-up, re-serves the mounts the previous process left dead (see
// docs/driver.md, "Restarts").
package csi
