package csi

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// The interceptor logs requests without their secrets and maps errors to
// codes.
func TestLogCallsStripsSecrets(t *testing.T) {
	var fs flag.FlagSet
	klog.InitFlags(&fs)
	var buf bytes.Buffer
	fs.Set("logtostderr", "false")
	fs.Set("v", "4")
	klog.SetOutput(&buf)
	t.Cleanup(func() {
		fs.Set("v", "0")
		fs.Set("logtostderr", "true")
		klog.SetOutput(nil)
	})
	req := &csipb.NodeStageVolumeRequest{VolumeId: "vol-1", Secrets: map[string]string{"token": "hunter2"}}
	info := &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Node/NodeStageVolume"}
	_, err := logCalls(context.Background(), req, info, func(context.Context, any) (any, error) {
		return nil, invalidParam("backing", "bad")
	})
	klog.Flush()
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("code %s, want InvalidArgument", status.Code(err))
	}
	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("secret in the log:\n%s", out)
	}
	if !strings.Contains(out, "vol-1") || !strings.Contains(out, "NodeStageVolume") || !strings.Contains(out, "***stripped***") {
		t.Errorf("log lacks the call:\n%s", out)
	}
}
