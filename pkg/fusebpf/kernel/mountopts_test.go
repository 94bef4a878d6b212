package kernel

import (
	"errors"
	"strings"
	"testing"
)

// TestMountOptionsString checks the option string against FUSE-BPF-ABI.md
// §1.2: the selftests' fd=N,user_id=0,group_id=0,rootmode=0040000 plus
// root_dir=<fd> and root_bpf=<name>, and no_daemon in place of fd=.
func TestMountOptionsString(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts MountOptions
		want string
	}{
		{
			name: "with daemon",
			opts: MountOptions{DevFD: 5, RootDirFD: 6, RootBPF: "fb0123456789", AllowOther: true, DefaultPermissions: true},
			want: "fd=5,rootmode=40000,user_id=0,group_id=0,root_dir=6,root_bpf=fb0123456789,allow_other,default_permissions",
		},
		{
			name: "no daemon",
			opts: MountOptions{DevFD: -1, RootDirFD: 3, RootBPF: "fb0123456789_1", NoDaemon: true, AllowOther: true, DefaultPermissions: true},
			want: "rootmode=40000,user_id=0,group_id=0,root_dir=3,root_bpf=fb0123456789_1,no_daemon,allow_other,default_permissions",
		},
		{
			name: "owner only",
			opts: MountOptions{DevFD: 9, RootDirFD: 10, RootBPF: "x", UserID: 1000, GroupID: 100},
			want: "fd=9,rootmode=40000,user_id=1000,group_id=100,root_dir=10,root_bpf=x",
		},
	} {
		if err := tc.opts.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got := tc.opts.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestMountOptionsValidate(t *testing.T) {
	good := MountOptions{DevFD: 5, RootDirFD: 6, RootBPF: "fb0123456789"}
	for _, tc := range []struct {
		name string
		edit func(*MountOptions)
	}{
		{"root_bpf longer than 14", func(o *MountOptions) { o.RootBPF = "fb0123456789abc" }},
		{"root_bpf empty", func(o *MountOptions) { o.RootBPF = "" }},
		{"root_bpf with a comma", func(o *MountOptions) { o.RootBPF = "a,allow_other" }},
		{"root_bpf with =", func(o *MountOptions) { o.RootBPF = "a=b" }},
		{"no root_dir", func(o *MountOptions) { o.RootDirFD = -1 }},
		{"no fd without no_daemon", func(o *MountOptions) { o.DevFD = -1 }},
	} {
		o := good
		tc.edit(&o)
		if err := o.Validate(); !errors.Is(err, ErrInvalidMountOptions) {
			t.Errorf("%s: %v, want ErrInvalidMountOptions", tc.name, err)
		}
	}
	o := good
	o.DevFD, o.NoDaemon = -1, true
	if err := o.Validate(); err != nil {
		t.Errorf("no_daemon without fd: %v", err)
	}
	if s := o.String(); strings.Contains(s, "fd=-1") || strings.HasPrefix(s, "fd=") {
		t.Errorf("no_daemon option string carries fd=: %s", s)
	}
}
