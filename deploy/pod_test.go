package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dropspot/dropspot/internal/netns"
)

func TestNoPrivilegedAnywhere(t *testing.T) {
	m := loadManifests(t)
	ps := m.podSpec()
	all := slices.Concat(ps.InitContainers, ps.Containers)
	for _, c := range ps.EphemeralContainers {
		all = append(all, corev1.Container(c.EphemeralContainerCommon))
	}
	for _, c := range all {
		if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s is privileged: the pod must not be", c.Name)
		}
	}
	sc := m.container(t).SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
}

func TestNamespaceAllowsPrivilegedPodSecurity(t *testing.T) {
	m := loadManifests(t)
	// hostNetwork, hostPID, hostPath and the capabilities are refused by
	// the baseline level: the namespace must say privileged explicitly.
	if got := m.namespace.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
		t.Errorf("namespace pod-security enforce label = %q, want privileged", got)
	}
}

func TestHostNamespacesAndAccount(t *testing.T) {
	m := loadManifests(t)
	ps := m.podSpec()
	if !ps.HostNetwork {
		t.Error("hostNetwork must be true")
	}
	if !ps.HostPID {
		t.Error("hostPID must be true (every process's /proc/PID/ns/net)")
	}
	if ps.ServiceAccountName != m.serviceAccount.Name {
		t.Errorf("serviceAccountName %q, ServiceAccount is %q", ps.ServiceAccountName, m.serviceAccount.Name)
	}
	if ps.SecurityContext == nil || ps.SecurityContext.RunAsUser == nil || *ps.SecurityContext.RunAsUser != 0 {
		t.Error("runAsUser must be 0: added capabilities are effective only for root")
	}
	if ps.TerminationGracePeriodSeconds == nil || *ps.TerminationGracePeriodSeconds < 10 {
		t.Errorf("terminationGracePeriodSeconds = %v, want >= 10 (graceful SIGTERM shutdown)", ps.TerminationGracePeriodSeconds)
	}
	// Tolerate every taint: an empty key with operator Exists.
	all := slices.ContainsFunc(ps.Tolerations, func(tol corev1.Toleration) bool {
		return tol.Key == "" && tol.Operator == corev1.TolerationOpExists && tol.Effect == ""
	})
	if !all {
		t.Error("tolerations must include {operator: Exists} to run on every node")
	}
	// BPF objects exist for amd64 and arm64 (internal/bpf): exactly those.
	var arches []string
	if a := ps.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				if e.Key == corev1.LabelArchStable && e.Operator == corev1.NodeSelectorOpIn {
					arches = append(arches, e.Values...)
				}
			}
		}
	}
	if want := committedArches(t); !slices.Equal(arches, want) {
		t.Errorf("node affinity %s In %v, want %v (the architectures of internal/bpf's objects)", corev1.LabelArchStable, arches, want)
	}
	if _, ok := ps.NodeSelector[corev1.LabelArchStable]; ok {
		t.Errorf("nodeSelector %s admits one architecture; the node affinity says which", corev1.LabelArchStable)
	}
}

// committedArches lists the GOARCH of every committed BPF object, sorted.
func committedArches(t *testing.T) []string {
	objs, err := filepath.Glob("../internal/bpf/dropspot_*_bpfel.o")
	if err != nil || len(objs) == 0 {
		t.Fatalf("no BPF objects in internal/bpf: %v", err)
	}
	arches := map[string]string{"x86": "amd64", "arm64": "arm64"}
	var out []string
	for _, o := range objs {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(o), "dropspot_"), "_bpfel.o")
		arch, ok := arches[name]
		if !ok {
			t.Fatalf("%s: unknown bpf2go target %q", o, name)
		}
		out = append(out, arch)
	}
	slices.Sort(out)
	return out
}

// wantCaps is the capability set, each explained in daemonset.yaml.
var wantCaps = []string{"BPF", "NET_ADMIN", "PERFMON", "SYSLOG", "SYS_ADMIN", "SYS_PTRACE", "SYS_RESOURCE"}

func TestCapabilities(t *testing.T) {
	m := loadManifests(t)
	sc := m.container(t).SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no securityContext.capabilities")
	}
	var added []string
	for _, c := range sc.Capabilities.Add {
		added = append(added, string(c))
	}
	got := slices.Sorted(slices.Values(added))
	if !slices.Equal(got, wantCaps) {
		t.Errorf("capabilities.add = %v, want exactly %v", got, wantCaps)
	}
	for _, c := range added {
		if strings.EqualFold(c, "ALL") || strings.HasPrefix(strings.ToUpper(c), "CAP_") {
			t.Errorf("capabilities.add has %q: no ALL, and names without CAP_ as Kubernetes wants", c)
		}
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("capabilities.drop = %v, want ALL (then add back only what is needed)", sc.Capabilities.Drop)
	}
	// Each added capability has its reason in a comment (STYLE.md).
	data, err := os.ReadFile("kubernetes/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range wantCaps {
		if !bytes.Contains(data, []byte("# CAP_"+c+":")) {
			t.Errorf("daemonset.yaml has no '# CAP_%s:' comment explaining it", c)
		}
	}
}

// isPort: a port given by name or number names this one.
func isPort(p intstr.IntOrString, name string, number int32) bool {
	if p.Type == intstr.String {
		return p.StrVal == name
	}
	return p.IntVal == number
}

func TestMounts(t *testing.T) {
	m := loadManifests(t)
	hostPaths := map[string]string{}
	for _, v := range m.podSpec().Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	type want struct {
		hostPath    string
		propagation corev1.MountPropagationMode
	}
	wants := map[string]want{
		netns.Dir:         {netns.Dir, corev1.MountPropagationHostToContainer}, // named namespaces made after start
		"/sys/fs/cgroup":  {"/sys/fs/cgroup", ""},                              // same path: dropspot reads /proc/self/mounts
		"/sys/kernel/btf": {"/sys/kernel/btf", ""},
	}
	seen := map[string]bool{}
	for _, vm := range m.container(t).VolumeMounts {
		w, ok := wants[vm.MountPath]
		if !ok {
			t.Errorf("unexpected mount %s: update this test with its reason", vm.MountPath)
			continue
		}
		seen[vm.MountPath] = true
		if got := hostPaths[vm.Name]; got != w.hostPath {
			t.Errorf("mount %s: volume %q is hostPath %q, want %q", vm.MountPath, vm.Name, got, w.hostPath)
		}
		if !vm.ReadOnly {
			t.Errorf("mount %s must be readOnly", vm.MountPath)
		}
		var propagation corev1.MountPropagationMode
		if vm.MountPropagation != nil {
			propagation = *vm.MountPropagation
		}
		if propagation != w.propagation {
			t.Errorf("mount %s: mountPropagation %q, want %q", vm.MountPath, propagation, w.propagation)
		}
	}
	for p := range wants {
		if !seen[p] {
			t.Errorf("no mount at %s", p)
		}
	}
}

func TestResources(t *testing.T) {
	m := loadManifests(t)
	c := m.container(t)
	r := c.Resources
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, haveReq := r.Requests[res]
		lim, haveLim := r.Limits[res]
		if !haveReq || !haveLim {
			t.Errorf("%s: request %s, limit %s: want both", res, req.String(), lim.String())
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s request %s above its limit %s", res, req.String(), lim.String())
		}
	}
	// The Go heap is capped by GOMEMLIMIT; the BPF maps come on top of it in
	// the same cgroup on kernels >= 5.11: 65536 × 288 B = 18 MiB for the
	// default flow table (one shared value, whatever the CPU count), ~4 MiB
	// for the rest. Leave room for Go's non-heap memory.
	var goLimit int64
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			// Go writes MiB where Kubernetes writes Mi.
			q, err := resource.ParseQuantity(strings.TrimSuffix(e.Value, "B"))
			if err != nil {
				t.Fatalf("GOMEMLIMIT %q: %v", e.Value, err)
			}
			goLimit = q.Value()
		}
	}
	if goLimit == 0 {
		t.Fatal("no GOMEMLIMIT: the heap of a full flow table would grow to twice its live size")
	}
	const mib = 1 << 20
	const maps = (18 + 4) * mib
	memLimit, memRequest := r.Limits[corev1.ResourceMemory], r.Requests[corev1.ResourceMemory]
	if memLimit.Value() < goLimit+64*mib+maps {
		t.Errorf("memory limit %s: below GOMEMLIMIT + 64 MiB + the maps (%d MiB)",
			memLimit.String(), (goLimit+64*mib+maps)/mib)
	}
	if memRequest.Value() < goLimit {
		t.Errorf("memory request %s below GOMEMLIMIT: a full flow table uses that much", memRequest.String())
	}
}
