// Package sanity holds the driver's end-to-end tests against the real gRPC
// server with real FUSE mounts: csi-sanity, restarts of the serve process,
// concurrency, and non-root access through VOLUME_MOUNT_GROUP. They need
// root and /dev/fuse and run under plain go test.
package sanity
