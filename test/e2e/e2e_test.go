package e2e

// Scenarios, in the order they run. Each asserts from inside pods what a user
// of the volume would see; node-side checks read the node's mount table.

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAllowAllSmoke: a dynamic local volume through allow-all behaves like a
// directory: create, write, read back, rename, mkdir, remove.
func TestAllowAllSmoke(t *testing.T) {
	sc := storageClass(t, map[string]string{"policy": "allow-all", "backing": "local"})
	claim := pvc(t, sc)
	pod := startPod(t, mountSpec{claim: claim, path: "/data"})
	assertFiltered(t, pod, "/data")
	out := sh(t, pod, `set -e
cd /data
echo "hello fusebpf" > a.txt
[ "$(cat a.txt)" = "hello fusebpf" ]
mkdir d && mv a.txt d/b.txt
ls d
echo more >> d/b.txt
wc -l < d/b.txt
rm d/b.txt && rmdir d
ls -A | wc -l`)
	if got := strings.Fields(out); !slices.Equal(got, []string{"b.txt", "2", "0"}) {
		t.Fatalf("file operations through allow-all: got %q, want [b.txt 2 0]", got)
	}
}

// seedLocal writes files into a local volume's backing directory on its
// node, as an operator filling a volume would, and returns the PV.
func seedLocal(t *testing.T, pod *corev1.Pod, claim string, files map[string]string) *corev1.PersistentVolume {
	t.Helper()
	pv := boundPV(t, claim)
	onNode(t, pod.Spec.NodeName, writeFilesScript("/host"+localBacking(t, pv), files))
	return pv
}

// writeFilesScript makes dir and writes each file (name relative to dir,
// parent directories created) with its content.
func writeFilesScript(dir string, files map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -e\nmkdir -p %q\n", dir)
	for _, name := range sortedKeys(files) {
		p := path.Join(dir, name)
		fmt.Fprintf(&b, "mkdir -p %q\nprintf '%%s' %q > %q\n", path.Dir(p), files[name], p)
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestReadOnlyPolicy (scenario 1): seeded files are readable; every kind of
// write fails with EROFS.
func TestReadOnlyPolicy(t *testing.T) {
	sc := storageClass(t, map[string]string{"policy": "read-only", "backing": "local"})
	claim := pvc(t, sc)
	pod := startPod(t, mountSpec{claim: claim, path: "/data"})
	assertFiltered(t, pod, "/data")
	seedLocal(t, pod, claim, map[string]string{"seed.txt": "seeded content", "dir/inner.txt": "inner"})

	if got := sh(t, pod, "cat /data/seed.txt; echo; cat /data/dir/inner.txt"); got != "seeded content\ninner" {
		t.Fatalf("reading seeded files: %q", got)
	}
	writes := []string{
		"echo x > /data/new.txt",
		"echo x >> /data/seed.txt",
		": > /data/seed.txt",
		"mkdir /data/newdir",
		"rm /data/seed.txt",
		"rmdir /data/dir",
		"mv /data/seed.txt /data/moved.txt",
		"ln -s seed.txt /data/link",
		"ln /data/seed.txt /data/hardlink",
		"chmod 600 /data/seed.txt",
		"touch /data/seed.txt",
		"touch /data/created-by-touch",
	}
	for _, w := range writes {
		out, errOut, code := execIn(t, k.ns, pod.Name, "", w)
		if code == 0 {
			t.Errorf("%q succeeded on a read-only view (stdout %q)", w, out)
			continue
		}
		if !strings.Contains(errOut, "Read-only file system") {
			t.Errorf("%q failed, but not with EROFS: %q", w, errOut)
		}
	}
	if got := sh(t, pod, "cat /data/seed.txt; ls -A /data | tr '\\n' ' '"); got != "seeded contentdir seed.txt " {
		t.Fatalf("volume changed by refused writes: %q", got)
	}
}

// TestHidePolicy (scenario 2): names matching the patterns are absent from
// readdir and lookup; everything else is intact.
func TestHidePolicy(t *testing.T) {
	sc := storageClass(t, map[string]string{"policy": "hide", "backing": "local", "policy.hidePatterns": "secret*,*.key"})
	claim := pvc(t, sc)
	pod := startPod(t, mountSpec{claim: claim, path: "/data"})
	assertFiltered(t, pod, "/data")
	seedLocal(t, pod, claim, map[string]string{
		"public.txt":        "public",
		"secret-plans.txt":  "hidden",
		"id.key":            "hidden",
		"sub/ok.txt":        "ok",
		"sub/inner.key":     "hidden",
		"secrets/x.txt":     "hidden",
		"not-a-secret.keys": "visible",
	})
	ls := strings.Fields(sh(t, pod, "ls -A /data /data/sub"))
	for _, hidden := range []string{"secret-plans.txt", "id.key", "inner.key", "secrets"} {
		if slices.Contains(ls, hidden) {
			t.Errorf("ls shows hidden name %s: %q", hidden, ls)
		}
	}
	for _, visible := range []string{"public.txt", "sub", "ok.txt", "not-a-secret.keys"} {
		if !slices.Contains(ls, visible) {
			t.Errorf("ls lacks %s: %q", visible, ls)
		}
	}
	for _, p := range []string{"/data/secret-plans.txt", "/data/id.key", "/data/sub/inner.key", "/data/secrets", "/data/secrets/x.txt"} {
		_, errOut, code := execIn(t, k.ns, pod.Name, "", "stat "+p)
		if code == 0 || !strings.Contains(errOut, "No such file or directory") {
			t.Errorf("stat %s: exit %d, %q; want ENOENT", p, code, errOut)
		}
	}
	if got := sh(t, pod, "cat /data/public.txt /data/sub/ok.txt /data/not-a-secret.keys"); got != "publicokvisible" {
		t.Errorf("visible files: %q", got)
	}
}

// TestAuditPolicy (scenario 3): the operations a pod performs show up in the
// node plugin's log for that volume.
func TestAuditPolicy(t *testing.T) {
	sc := storageClass(t, map[string]string{"policy": "audit", "backing": "local"})
	claim := pvc(t, sc)
	pod := startPod(t, mountSpec{claim: claim, path: "/data"})
	assertFiltered(t, pod, "/data")
	pv := boundPV(t, claim)
	since := time.Now()
	file, dir := uniq("auditfile"), uniq("auditdir")
	sh(t, pod, fmt.Sprintf("set -e; cd /data; mkdir %s; echo x > %s/%s; cat %s/%s; rm %s/%s; rmdir %s", dir, dir, file, dir, file, dir, file, dir))

	// The events are logged asynchronously: wait for the last one.
	var lines []string
	waitFor(t, "audit events for "+dir+" in the node plugin's log", func() (bool, error) {
		lines = lines[:0]
		for _, l := range strings.Split(driverLogs(t, pod.Spec.NodeName, since), "\n") {
			if strings.Contains(l, file) || strings.Contains(l, dir) {
				lines = append(lines, l)
			}
		}
		return slices.ContainsFunc(lines, func(l string) bool { return containsFold(l, "rmdir") }), nil
	})
	for _, l := range lines {
		if !strings.Contains(l, pv.Spec.CSI.VolumeHandle) {
			t.Errorf("audit line does not name the volume %s: %s", pv.Spec.CSI.VolumeHandle, l)
		}
	}
	for _, op := range []string{"mkdir", "create", "unlink", "rmdir"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return containsFold(l, op) }) {
			t.Errorf("no audit line for %s; lines:\n%s", op, strings.Join(lines, "\n"))
		}
	}
}

func containsFold(s, sub string) bool { return strings.Contains(strings.ToLower(s), sub) }

// dataset makes a directory under -dataset-root on node with files and
// removes it when the test ends.
func dataset(t *testing.T, node string, files map[string]string) string {
	t.Helper()
	dir := path.Join(*flagDatasetRoot, uniq("e2e-dataset"))
	onNode(t, node, writeFilesScript("/host"+dir, files))
	t.Cleanup(func() { onNode(t, node, fmt.Sprintf("rm -rf %q", "/host"+dir)) })
	return dir
}

// anyNode returns a schedulable node for hostPath datasets.
func anyNode(t *testing.T) string {
	t.Helper()
	nodes, err := k.cs.CoreV1().Nodes().List(ctxT(t), metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("no nodes: %v", err)
	}
	for _, n := range nodes.Items {
		if !n.Spec.Unschedulable {
			return n.Name
		}
	}
	return nodes.Items[0].Name
}

// TestTwoViewsOfOneDataset (scenario 4): two pods reach one hostPath dataset
// through StorageClasses with different policies and see different views.
func TestTwoViewsOfOneDataset(t *testing.T) {
	node := anyNode(t)
	dir := dataset(t, node, map[string]string{"report.txt": "quarterly", "salary.key": "confidential"})
	full := storageClass(t, map[string]string{"policy": "allow-all", "backing": "hostPath", "backingPath": dir})
	hidden := storageClass(t, map[string]string{"policy": "hide", "backing": "hostPath", "backingPath": dir, "policy.hidePatterns": "*.key"})
	pFull := newPod(uniq("full"), "sleep 100000", mountSpec{claim: pvc(t, full), path: "/data"})
	pHidden := newPod(uniq("hidden"), "sleep 100000", mountSpec{claim: pvc(t, hidden), path: "/data"})
	pFull.Spec.NodeName, pHidden.Spec.NodeName = "", ""
	pFull.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node}
	pHidden.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node}
	a := createPodRunning(t, pFull)
	b := createPodRunning(t, pHidden)
	assertFiltered(t, a, "/data")
	assertFiltered(t, b, "/data")

	if got := sh(t, a, "ls /data | tr '\\n' ' '; cat /data/salary.key"); got != "report.txt salary.key confidential" {
		t.Errorf("allow-all view: %q", got)
	}
	if got := sh(t, b, "ls /data | tr '\\n' ' '; cat /data/report.txt"); got != "report.txt quarterly" {
		t.Errorf("hide view: %q", got)
	}
	if _, errOut, code := execIn(t, k.ns, b.Name, "", "cat /data/salary.key"); code == 0 || !strings.Contains(errOut, "No such file or directory") {
		t.Errorf("hide view reads salary.key: exit %d %q", code, errOut)
	}
	// One dataset: a write through the full view reaches the other view once
	// that mount's attribute cache expires.
	sh(t, a, "echo appended >> /data/report.txt")
	var got string
	waitFor(t, "the hide view to show a write made through the allow-all view", func() (bool, error) {
		got = sh(t, b, "cat /data/report.txt")
		return got == "quarterlyappended\n", nil
	})
}

// TestKernelEnforcementFailsClosed (scenario 5): on a stock kernel, a volume
// that demands the kernel tier never reaches a pod; an event names why.
func TestKernelEnforcementFailsClosed(t *testing.T) {
	sc := storageClass(t, map[string]string{"policy": "allow-all", "backing": "local", "enforcement": "kernel"})
	claim := pvc(t, sc)
	p := newPod(uniq("kernel"), "sleep 100000", mountSpec{claim: claim, path: "/data"})
	ctx := ctxT(t)
	if _, err := k.cs.CoreV1().Pods(k.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deletePod(t, p.Name) })

	reason := regexp.MustCompile(`(?i)kernel`)
	var why string
	waitFor(t, "an event that explains why the kernel-tier volume cannot be used", func() (bool, error) {
		got, err := k.cs.CoreV1().Pods(k.ns).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if got.Status.Phase == corev1.PodRunning || got.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("pod reached %s with enforcement: kernel on a kernel without FUSE-BPF", got.Status.Phase)
		}
		for _, obj := range [][2]string{{"PersistentVolumeClaim", claim}, {"Pod", p.Name}} {
			evs, err := k.cs.CoreV1().Events(k.ns).List(ctx, metav1.ListOptions{
				FieldSelector: "involvedObject.kind=" + obj[0] + ",involvedObject.name=" + obj[1] + ",type=Warning",
			})
			if err != nil {
				return false, err
			}
			for _, e := range evs.Items {
				if reason.MatchString(e.Message) {
					why = fmt.Sprintf("%s %s: %s", obj[0], e.Reason, e.Message)
					return true, nil
				}
			}
		}
		return false, nil
	})
	t.Logf("refused as expected: %s", why)
	got, err := k.cs.CoreV1().Pods(k.ns).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range got.Status.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil || cs.RestartCount > 0 {
			t.Fatalf("container %s started without its volume: %+v", cs.Name, cs.State)
		}
	}
	if got.Spec.NodeName != "" {
		// Scheduled but not mounted: nothing of the volume may be mounted for
		// it (its service account token is, which is fine).
		csiDir := "/var/lib/kubelet/pods/" + string(got.UID) + "/volumes/kubernetes.io~csi/"
		if m := nodeMounts(t, got.Spec.NodeName, csiDir); len(m) > 0 {
			t.Fatalf("CSI volume mounts exist for the refused pod:\n%s", strings.Join(m, "\n"))
		}
	}
}

// nodeMounts returns the node's mountinfo lines that contain any of subs.
func nodeMounts(t *testing.T, node string, subs ...string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(onNode(t, node, "cat /proc/1/mountinfo"), "\n") {
		for _, s := range subs {
			if s != "" && strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// TestCleanup (scenario 6): deleting the pod leaves no mount of the volume on
// the node; deleting the claim removes a local backing and keeps a hostPath
// dataset.
func TestCleanup(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		sc := storageClass(t, map[string]string{"policy": "allow-all", "backing": "local"})
		claim := pvc(t, sc)
		pod := startPod(t, mountSpec{claim: claim, path: "/data"})
		sh(t, pod, "echo data > /data/file")
		pv := boundPV(t, claim)
		node, handle, backing := pod.Spec.NodeName, pv.Spec.CSI.VolumeHandle, localBacking(t, pv)
		if m := nodeMounts(t, node, handle, string(pod.UID)); len(m) < 2 {
			t.Fatalf("expected staging and publish mounts while the pod runs, got:\n%s", strings.Join(m, "\n"))
		}
		deletePod(t, pod.Name)
		waitFor(t, "no mount of "+handle+" on "+node, func() (bool, error) {
			return len(nodeMounts(t, node, handle, string(pod.UID))) == 0, nil
		})
		if got := onNode(t, node, "cat /host"+backing+"/file"); got != "data\n" {
			t.Fatalf("backing after unpublish: %q", got)
		}
		deletePVC(t, claim, true)
		if out := onNode(t, node, fmt.Sprintf("[ -e %q ] && echo present || echo absent", "/host"+backing)); strings.TrimSpace(out) != "absent" {
			t.Fatalf("local backing %s still exists after the PVC was deleted", backing)
		}
	})
	t.Run("hostPath", func(t *testing.T) {
		node := anyNode(t)
		dir := dataset(t, node, map[string]string{"keep.txt": "kept"})
		sc := storageClass(t, map[string]string{"policy": "allow-all", "backing": "hostPath", "backingPath": dir})
		claim := pvc(t, sc)
		p := newPod(uniq("pod"), "sleep 100000", mountSpec{claim: claim, path: "/data"})
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node}
		pod := createPodRunning(t, p)
		sh(t, pod, "echo new > /data/written.txt")
		pv := boundPV(t, claim)
		handle := pv.Spec.CSI.VolumeHandle
		deletePod(t, pod.Name)
		waitFor(t, "no mount of "+handle+" on "+node, func() (bool, error) {
			return len(nodeMounts(t, node, handle, string(pod.UID))) == 0, nil
		})
		deletePVC(t, claim, true)
		if got := onNode(t, node, fmt.Sprintf("cat %q/keep.txt %q/written.txt", "/host"+dir, "/host"+dir)); got != "keptnew\n" {
			t.Fatalf("hostPath dataset after the PVC was deleted: %q", got)
		}
	})
}

// TestUpgradeWhileInUse (scenario 7): a pod reads and writes its volume while
// the driver is upgraded with helm (the node plugin pod is replaced, as for a
// new image). It records what the running pod sees, then checks that the
// driver serves the volume again to a new pod.
func TestUpgradeWhileInUse(t *testing.T) {
	helm, err := exec.LookPath(*flagHelm)
	if err != nil {
		t.Fatalf("helm upgrade needs the helm binary (-helm): %v", err)
	}
	sc := storageClass(t, map[string]string{"policy": "allow-all", "backing": "local"})
	claim := pvc(t, sc)
	// Subshells, so that the shell's own redirection errors land in /tmp/err.
	loop := `i=0; while true; do i=$((i+1))
  if (echo $i > /data/counter) 2>/tmp/err && [ "$( (cat /data/counter) 2>>/tmp/err)" = "$i" ]; then echo "ok $i"
  else echo "fail $i $(head -c 160 /tmp/err | tr '\n' ' ')"; fi
  sleep 0.5; done`
	p := createPodRunning(t, newPod(uniq("busy"), loop, mountSpec{claim: claim, path: "/data"}))
	ctx := ctxT(t)
	logLines := func() []string {
		b, err := k.cs.CoreV1().Pods(k.ns).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			t.Fatalf("logs: %v", err)
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	waitFor(t, "the workload to write", func() (bool, error) { return countPrefix(logLines(), "ok ") >= 3, nil })
	old := driverPod(t, p.Spec.NodeName)
	before := len(logLines())

	start := time.Now()
	cmd := exec.Command(helm, "upgrade", *flagRelease, chartDir(), "--namespace", *flagDriverNS, "--reuse-values",
		"--set-string", "node.podAnnotations.fusebpf\\.csi\\.io/e2e-rollout="+strconv.FormatInt(start.Unix(), 10),
		"--wait", "--timeout", "5m")
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	nw := driverPod(t, p.Spec.NodeName)
	if nw.UID == old.UID {
		t.Fatalf("helm upgrade did not replace the node plugin pod %s", old.Name)
	}
	t.Logf("helm upgrade replaced node plugin %s with %s in %v", old.Name, nw.Name, time.Since(start).Round(time.Second))
	// Watch the workload for 20 more iterations after the new plugin is up.
	after := len(logLines())
	waitFor(t, "the workload to keep running", func() (bool, error) { return len(logLines()) >= after+20, nil })
	lines := logLines()
	during, post := lines[before:after], lines[after:]
	firstFail := ""
	for _, l := range lines[before:] {
		if strings.HasPrefix(l, "fail ") {
			firstFail = l
			break
		}
	}
	t.Logf("BEHAVIOUR during upgrade: %d ok / %d failed iterations while the plugin was replaced; after: %d ok / %d failed",
		countPrefix(during, "ok "), countPrefix(during, "fail "), countPrefix(post, "ok "), countPrefix(post, "fail "))
	if firstFail != "" {
		t.Logf("BEHAVIOUR: the running pod's mount broke: first failure %q; last line %q", firstFail, post[len(post)-1])
	} else {
		t.Logf("BEHAVIOUR: the running pod's mount kept working through the upgrade")
	}

	// Whatever happened to the old mount, the volume must come back for a
	// new pod on the same claim, and unpublishing the old one must leave
	// nothing behind.
	deletePod(t, p.Name)
	waitFor(t, "no mount of the old pod", func() (bool, error) {
		return len(nodeMounts(t, p.Spec.NodeName, string(p.UID))) == 0, nil
	})
	q := startPod(t, mountSpec{claim: claim, path: "/data"})
	assertFiltered(t, q, "/data")
	out := sh(t, q, "cat /data/counter && echo again > /data/after && cat /data/after")
	if !strings.HasSuffix(out, "again\n") {
		t.Fatalf("volume after upgrade: %q", out)
	}
	t.Logf("after the upgrade the claim works again in a new pod (counter was %s)", strings.SplitN(out, "\n", 2)[0])
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// TestUninstallLeavesOnlyCRDs: helm uninstall removes every cluster-scoped
// object of the release except the CRDs, and kubelet deregisters the driver.
// Destructive, so it runs only with -uninstall, after everything else.
func TestUninstallLeavesOnlyCRDs(t *testing.T) {
	if !*flagUninstall {
		t.Skip("destructive: run with -args -uninstall (hack/e2e.sh does)")
	}
	helm, err := exec.LookPath(*flagHelm)
	if err != nil {
		t.Fatalf("uninstall needs the helm binary (-helm): %v", err)
	}
	ctx := ctxT(t)
	// Volumes must go while the driver can still clean them up: the other
	// tests deleted their claims; wait for the provisioner to delete the PVs.
	waitFor(t, "every "+driverName+" PersistentVolume to be deleted before uninstall", func() (bool, error) {
		pvs, err := k.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, pv := range pvs.Items {
			if pv.Spec.CSI != nil && pv.Spec.CSI.Driver == driverName {
				return false, nil
			}
		}
		return true, nil
	})
	if out, err := exec.Command(helm, "uninstall", *flagRelease, "--namespace", *flagDriverNS, "--wait", "--timeout", "5m").CombinedOutput(); err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + *flagRelease}
	var left []string
	if l, err := k.cs.StorageV1().CSIDrivers().Get(ctx, driverName, metav1.GetOptions{}); err == nil {
		left = append(left, "CSIDriver/"+l.Name)
	} else if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if l, err := k.cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{}); err == nil {
		for _, o := range l.Items {
			if o.Provisioner == driverName {
				left = append(left, "StorageClass/"+o.Name)
			}
		}
	}
	if l, err := k.cs.RbacV1().ClusterRoles().List(ctx, sel); err == nil {
		for _, o := range l.Items {
			left = append(left, "ClusterRole/"+o.Name)
		}
	}
	if l, err := k.cs.RbacV1().ClusterRoleBindings().List(ctx, sel); err == nil {
		for _, o := range l.Items {
			left = append(left, "ClusterRoleBinding/"+o.Name)
		}
	}
	waitFor(t, "FilterPolicy and FuseBPFNode objects to be garbage-collected", func() (bool, error) {
		fp, err1 := k.dyn.Resource(filterPolicyGVR).List(ctx, metav1.ListOptions{})
		fn, err2 := k.dyn.Resource(fuseBPFNodeGVR).List(ctx, metav1.ListOptions{})
		if err1 != nil || err2 != nil {
			return false, fmt.Errorf("list custom resources (the CRDs must stay): %v %v", err1, err2)
		}
		if len(fp.Items)+len(fn.Items) == 0 {
			return true, nil
		}
		t.Logf("waiting: %d FilterPolicies, %d FuseBPFNodes left", len(fp.Items), len(fn.Items))
		return false, nil
	})
	if len(left) > 0 {
		t.Errorf("uninstall left cluster-scoped objects: %s", strings.Join(left, ", "))
	}
	for _, crd := range []string{"filterpolicies.fusebpf.csi.io", "fusebpfnodes.fusebpf.csi.io"} {
		if _, err := k.dyn.Resource(crdGVR).Get(ctx, crd, metav1.GetOptions{}); err != nil {
			t.Errorf("CRD %s: %v (CRDs are kept on uninstall)", crd, err)
		}
	}
	waitFor(t, "kubelet to deregister "+driverName+" from every CSINode", func() (bool, error) {
		l, err := k.cs.StorageV1().CSINodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, n := range l.Items {
			for _, d := range n.Spec.Drivers {
				if d.Name == driverName {
					return false, nil
				}
			}
		}
		return true, nil
	})
}
