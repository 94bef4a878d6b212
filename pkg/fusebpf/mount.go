package fusebpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
	mountutils "k8s.io/mount-utils"
)

// Cache lifetimes handed to the kernel. Policy verdicts for a name do not
// change while a volume is mounted, so caching them is safe.
const (
	entryTimeout = time.Second
	attrTimeout  = time.Second
)

// Server serves one filtered mount.
type Server struct {
	srv        *fuse.Server
	mountpoint string
	rootFd     int
	done       chan struct{}
}

// Mount mounts a filtered view of o.Backing on o.Mountpoint and serves it in
// the background. It returns once the mount is visible in mountinfo with the
// expected type and flags; on any error nothing stays mounted. ctx bounds the
// set-up only: the server lives until [Server.Unmount] or an external
// unmount.
func Mount(ctx context.Context, o MountOptions) (*Server, error) {
	if o.Backing == "" || o.Mountpoint == "" {
		return nil, errors.New("mount: backing and mountpoint are required")
	}
	backing, err := filepath.Abs(o.Backing)
	if err != nil {
		return nil, err
	}
	mp, err := filepath.Abs(o.Mountpoint)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(mp); err != nil {
		return nil, fmt.Errorf("mountpoint: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("mountpoint %s: not a directory", mp)
	}
	if busy, err := isMountpoint(mp); err != nil {
		return nil, fmt.Errorf("mountpoint %s: %w", mp, err)
	} else if busy {
		return nil, fmt.Errorf("mountpoint %s: %w", mp, ErrBusy)
	}
	rootFd, err := unix.Open(backing, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("backing %s: %w", backing, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(rootFd, &st); err != nil {
		unix.Close(rootFd)
		return nil, fmt.Errorf("backing %s: %w", backing, err)
	}
	fr := &fsRoot{dev: uint64(st.Dev), filter: newFilterState(o.Filter, klog.FromContext(ctx))}
	root := &node{root: fr, dirFd: rootFd, ino: st.Ino, dev: uint64(st.Dev)}

	source := o.Source
	if source == "" {
		source = "fusebpf"
	}
	opts := []string{"default_permissions"}
	// Pods never get device nodes or setuid executables from a filtered
	// volume.
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if o.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	et, at := entryTimeout, attrTimeout
	if o.cacheTTL > 0 {
		et, at = o.cacheTTL, o.cacheTTL
	}
	fsOpts := &fs.Options{
		EntryTimeout:    &et,
		AttrTimeout:     &at,
		NegativeTimeout: &et,
		MountOptions: fuse.MountOptions{
			AllowOther:        true,
			Options:           opts,
			FsName:            source,
			Name:              "fusebpf",
			DirectMountStrict: true,
			DirectMountFlags:  flags,
			// readdir without attributes is 6x cheaper here than
			// READDIRPLUS; a stat that follows pays one LOOKUP.
			DisableReadDirPlus: true,
			// The daemon clears suid/sgid/capabilities itself (see
			// file.go), which spares a GETXATTR round trip per write.
			ExtraCapabilities: fuse.CAP_HANDLE_KILLPRIV_V2,
			// Forward POSIX and flock locks to the backing file (OFD
			// locks), so views of one dataset lock coherently.
			EnableLocks:   true,
			Debug:         o.Debug,
			MaxBackground: 64,
		},
	}
	type result struct {
		srv *fuse.Server
		err error
	}
	ch := make(chan result, 1)
	go func() {
		srv, err := fs.Mount(mp, root, fsOpts)
		ch <- result{srv, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		// The mount may still complete; take it down when it does.
		go func() {
			if r := <-ch; r.err == nil {
				r.srv.Unmount()
			}
		}()
		return nil, fmt.Errorf("mount %s: %w", mp, ctx.Err())
	}
	if r.err != nil {
		unix.Close(rootFd)
		return nil, fmt.Errorf("mount %s: %w", mp, r.err)
	}
	s := &Server{srv: r.srv, mountpoint: mp, rootFd: rootFd, done: make(chan struct{})}
	go func() {
		r.srv.Wait()
		close(s.done)
	}()
	if err := verify(mp, o.ReadOnly); err != nil {
		s.Unmount()
		return nil, err
	}
	return s, nil
}

// Mountpoint returns the absolute path the server is mounted on.
func (s *Server) Mountpoint() string { return s.mountpoint }

// Passthrough reports whether the kernel accepted FUSE passthrough for this
// mount, so file data bypasses the daemon.
func (s *Server) Passthrough() bool {
	return s.srv.KernelSettings().Flags64()&fuse.CAP_PASSTHROUGH != 0
}

// Wait blocks until the mount is gone.
func (s *Server) Wait() { <-s.done }

// Unmount unmounts the file system and waits for the server to stop. If the
// mount is busy it is detached lazily, so the server always stops.
func (s *Server) Unmount() error {
	err := s.srv.Unmount()
	if err != nil {
		if derr := unix.Unmount(s.mountpoint, unix.MNT_DETACH); derr == nil {
			err = nil
		}
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("unmount %s: server did not stop", s.mountpoint)
	}
	return err
}

// verify checks mountinfo for the new mount.
func verify(mp string, ro bool) error {
	mi, err := findMount(mp)
	if err != nil {
		return err
	}
	if mi == nil {
		return fmt.Errorf("mount %s: not in mountinfo after mount", mp)
	}
	if mi.FsType != FSType {
		return fmt.Errorf("mount %s: fstype %q, want %q", mp, mi.FsType, FSType)
	}
	gotRO := false
	for _, o := range mi.MountOptions {
		if o == "ro" {
			gotRO = true
		}
	}
	if gotRO != ro {
		return fmt.Errorf("mount %s: read-only %v, want %v", mp, gotRO, ro)
	}
	return nil
}

// findMount returns the topmost mountinfo entry for mp, or nil.
func findMount(mp string) (*mountutils.MountInfo, error) {
	infos, err := mountutils.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var found *mountutils.MountInfo
	for i := range infos {
		if infos[i].MountPoint == mp {
			found = &infos[i]
		}
	}
	return found, nil
}

func isMountpoint(mp string) (bool, error) {
	mi, err := findMount(mp)
	return mi != nil, err
}

// Check reports whether path is a live fusebpf mount: nil when it is,
// ErrNotMounted when path is not a fusebpf mount, ErrDisconnected when the
// mount's server is gone. It asks the server (statfs), which can block on a
// hung server; callers that must not block run it under a timeout.
func Check(path string) error {
	mp, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	mi, err := findMount(mp)
	if err != nil {
		return err
	}
	if mi == nil || mi.FsType != FSType {
		return fmt.Errorf("%s: %w", mp, ErrNotMounted)
	}
	// statfs always reaches the server; a stat could be answered from the
	// kernel's attribute cache for a while after the server died.
	var st unix.Statfs_t
	if err := unix.Statfs(mp, &st); err != nil {
		if errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ECONNABORTED) {
			return fmt.Errorf("%s: %w", mp, ErrDisconnected)
		}
		return fmt.Errorf("%s: %w", mp, err)
	}
	return nil
}

// Unmount unmounts the fusebpf mount at path, dead or alive; it detaches
// lazily when a plain unmount fails. Nothing mounted at path is not an
// error.
func Unmount(path string) error {
	mp, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for {
		mi, err := findMount(mp)
		if err != nil {
			return err
		}
		if mi == nil {
			return nil
		}
		if mi.FsType != FSType {
			return fmt.Errorf("unmount %s: %s is mounted there, not %s", mp, mi.FsType, FSType)
		}
		if err := unix.Unmount(mp, 0); err != nil {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s: %w", mp, err)
			}
		}
	}
}
