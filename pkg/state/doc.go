// Package state keeps the node plugin's records of the volumes it staged, so
// that a restarted plugin can still publish, unpublish and unstage them and
// can find the mounts the previous process left behind.
//
// A [Store] holds one [Volume] record per volume ID. [Dir] is the file-backed
// Store: one JSON file per volume, replaced atomically (temporary file,
// fsync, rename, fsync of the directory), so a crash at any point leaves
// either the old record or the new one, never a torn file.
//
// The package knows nothing about mounts or gRPC; reconciling records with
// /proc/self/mountinfo is the CSI node's job.
package state
