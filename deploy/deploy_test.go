// Package deploy holds dropspot's deployment files (Kubernetes manifests,
// Dockerfile, Grafana dashboard). Its tests parse them and check the fields
// that matter; they need no privilege and no network.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/dropspot/dropspot/internal/metrics"
	"github.com/dropspot/dropspot/internal/netns"
	"github.com/dropspot/dropspot/internal/stage"
)

// --- The manifests, as far as they are checked. Decoded strictly: a field
// not declared here (a typo such as mountPropogation) fails the test. ---

type meta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type namespaceDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
}

type serviceAccountDoc struct {
	APIVersion                   string `yaml:"apiVersion"`
	Kind                         string `yaml:"kind"`
	Metadata                     meta   `yaml:"metadata"`
	AutomountServiceAccountToken *bool  `yaml:"automountServiceAccountToken"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type daemonSetDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		Selector       labelSelector `yaml:"selector"`
		UpdateStrategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable any `yaml:"maxUnavailable"`
				MaxSurge       any `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"updateStrategy"`
		Template struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	ServiceAccountName            string            `yaml:"serviceAccountName"`
	AutomountServiceAccountToken  *bool             `yaml:"automountServiceAccountToken"`
	HostNetwork                   bool              `yaml:"hostNetwork"`
	HostPID                       bool              `yaml:"hostPID"`
	TerminationGracePeriodSeconds *int              `yaml:"terminationGracePeriodSeconds"`
	NodeSelector                  map[string]string `yaml:"nodeSelector"`
	Affinity                      struct {
		NodeAffinity struct {
			Required struct {
				Terms []struct {
					MatchExpressions []struct {
						Key      string   `yaml:"key"`
						Operator string   `yaml:"operator"`
						Values   []string `yaml:"values"`
					} `yaml:"matchExpressions"`
				} `yaml:"nodeSelectorTerms"`
			} `yaml:"requiredDuringSchedulingIgnoredDuringExecution"`
		} `yaml:"nodeAffinity"`
	} `yaml:"affinity"`
	Tolerations []struct {
		Key      string `yaml:"key"`
		Operator string `yaml:"operator"`
		Effect   string `yaml:"effect"`
	} `yaml:"tolerations"`
	SecurityContext struct {
		RunAsUser      *int64 `yaml:"runAsUser"`
		RunAsGroup     *int64 `yaml:"runAsGroup"`
		RunAsNonRoot   *bool  `yaml:"runAsNonRoot"`
		SeccompProfile struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
		AppArmorProfile struct {
			Type string `yaml:"type"`
		} `yaml:"appArmorProfile"`
		SELinuxOptions struct {
			Type string `yaml:"type"`
		} `yaml:"seLinuxOptions"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name     string `yaml:"name"`
		HostPath struct {
			Path string `yaml:"path"`
			Type string `yaml:"type"`
		} `yaml:"hostPath"`
	} `yaml:"volumes"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // name or number
	} `yaml:"httpGet"`
	InitialDelaySeconds int `yaml:"initialDelaySeconds"`
	PeriodSeconds       int `yaml:"periodSeconds"`
	TimeoutSeconds      int `yaml:"timeoutSeconds"`
	FailureThreshold    int `yaml:"failureThreshold"`
}

type container struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	ImagePullPolicy string   `yaml:"imagePullPolicy"`
	Command         []string `yaml:"command"`
	Args            []string `yaml:"args"`
	Ports           []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	StartupProbe   *probe `yaml:"startupProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		Privileged               *bool `yaml:"privileged"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Add  []string `yaml:"add"`
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name             string `yaml:"name"`
		MountPath        string `yaml:"mountPath"`
		ReadOnly         bool   `yaml:"readOnly"`
		MountPropagation string `yaml:"mountPropagation"`
	} `yaml:"volumeMounts"`
}

type serviceDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		ClusterIP string            `yaml:"clusterIP"`
		Selector  map[string]string `yaml:"selector"`
		Ports     []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
			Protocol   string `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type serviceMonitorDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		NamespaceSelector struct {
			MatchNames []string `yaml:"matchNames"`
			Any        bool     `yaml:"any"`
		} `yaml:"namespaceSelector"`
		Selector  labelSelector `yaml:"selector"`
		Endpoints []struct {
			Port          string `yaml:"port"`
			Path          string `yaml:"path"`
			Interval      string `yaml:"interval"`
			ScrapeTimeout string `yaml:"scrapeTimeout"`
			Relabelings   []struct {
				SourceLabels []string `yaml:"sourceLabels"`
				TargetLabel  string   `yaml:"targetLabel"`
				Action       string   `yaml:"action"`
			} `yaml:"relabelings"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

// manifests is every document of every YAML file under kubernetes/.
type manifests struct {
	generic        []map[string]any // every document, loosely
	namespace      *namespaceDoc
	serviceAccount *serviceAccountDoc
	daemonSet      *daemonSetDoc
	service        *serviceDoc
	serviceMonitor *serviceMonitorDoc
}

func strictDecode(t *testing.T, where string, node *yaml.Node, into any) {
	t.Helper()
	raw, err := yaml.Marshal(node)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under kubernetes/ (%v)", err)
	}
	m := &manifests{}
	once := func(kind string, have bool) {
		if have {
			t.Fatalf("more than one %s in kubernetes/", kind)
		}
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 0; ; i++ {
			var node yaml.Node
			if err := dec.Decode(&node); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			var doc map[string]any
			if err := node.Decode(&doc); err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			if doc == nil {
				continue // empty document
			}
			m.generic = append(m.generic, doc)
			where := fmt.Sprintf("%s document %d (%v)", file, i, doc["kind"])
			switch doc["kind"] {
			case "Namespace":
				once("Namespace", m.namespace != nil)
				m.namespace = &namespaceDoc{}
				strictDecode(t, where, &node, m.namespace)
			case "ServiceAccount":
				once("ServiceAccount", m.serviceAccount != nil)
				m.serviceAccount = &serviceAccountDoc{}
				strictDecode(t, where, &node, m.serviceAccount)
			case "DaemonSet":
				once("DaemonSet", m.daemonSet != nil)
				m.daemonSet = &daemonSetDoc{}
				strictDecode(t, where, &node, m.daemonSet)
			case "Service":
				once("Service", m.service != nil)
				m.service = &serviceDoc{}
				strictDecode(t, where, &node, m.service)
			case "ServiceMonitor":
				once("ServiceMonitor", m.serviceMonitor != nil)
				m.serviceMonitor = &serviceMonitorDoc{}
				strictDecode(t, where, &node, m.serviceMonitor)
			default:
				t.Fatalf("%s: unexpected kind", where)
			}
		}
	}
	for kind, have := range map[string]bool{
		"Namespace": m.namespace != nil, "ServiceAccount": m.serviceAccount != nil,
		"DaemonSet": m.daemonSet != nil, "Service": m.service != nil, "ServiceMonitor": m.serviceMonitor != nil,
	} {
		if !have {
			t.Fatalf("no %s in kubernetes/", kind)
		}
	}
	return m
}

func (m *manifests) container(t *testing.T) container {
	t.Helper()
	cs := m.daemonSet.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("DaemonSet has %d containers, want 1", len(cs))
	}
	return cs[0]
}

func TestManifestAPIVersions(t *testing.T) {
	m := loadManifests(t)
	for _, doc := range m.generic {
		want := map[string]string{
			"Namespace": "v1", "ServiceAccount": "v1", "Service": "v1",
			"DaemonSet": "apps/v1", "ServiceMonitor": "monitoring.coreos.com/v1",
		}[doc["kind"].(string)]
		if doc["apiVersion"] != want {
			t.Errorf("%v: apiVersion %v, want %s", doc["kind"], doc["apiVersion"], want)
		}
		md, _ := doc["metadata"].(map[string]any)
		if md["name"] != "dropspot" {
			t.Errorf("%v: name %v, want dropspot", doc["kind"], md["name"])
		}
		if doc["kind"] != "Namespace" && md["namespace"] != "dropspot" {
			t.Errorf("%v: namespace %v, want dropspot", doc["kind"], md["namespace"])
		}
	}
}

// walk calls fn for every key/value pair of every mapping in v.
func walk(v any, path string, fn func(path, key string, val any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			fn(path, k, val)
			walk(val, path+"."+k, fn)
		}
	case []any:
		for i, val := range v {
			walk(val, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	}
}

func TestNoPrivilegedAnywhere(t *testing.T) {
	m := loadManifests(t)
	for _, doc := range m.generic {
		walk(doc, fmt.Sprint(doc["kind"]), func(path, key string, val any) {
			if key == "privileged" && val != false {
				t.Errorf("%s.privileged = %v: the pod must not be privileged", path, val)
			}
		})
	}
	sc := m.container(t).SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
}

func TestNamespaceAllowsPrivilegedPodSecurity(t *testing.T) {
	m := loadManifests(t)
	// hostNetwork, hostPID, hostPath and the capabilities are refused by
	// the baseline level: the namespace must say privileged explicitly.
	if got := m.namespace.Metadata.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
		t.Errorf("namespace pod-security enforce label = %q, want privileged", got)
	}
}

func TestHostNamespacesAndAccount(t *testing.T) {
	m := loadManifests(t)
	ps := m.daemonSet.Spec.Template.Spec
	if !ps.HostNetwork {
		t.Error("hostNetwork must be true")
	}
	if !ps.HostPID {
		t.Error("hostPID must be true (every process's /proc/PID/ns/net)")
	}
	if ps.ServiceAccountName != m.serviceAccount.Metadata.Name {
		t.Errorf("serviceAccountName %q, ServiceAccount is %q", ps.ServiceAccountName, m.serviceAccount.Metadata.Name)
	}
	if ps.SecurityContext.RunAsUser == nil || *ps.SecurityContext.RunAsUser != 0 {
		t.Error("runAsUser must be 0: added capabilities are effective only for root")
	}
	if ps.TerminationGracePeriodSeconds == nil || *ps.TerminationGracePeriodSeconds < 10 {
		t.Errorf("terminationGracePeriodSeconds = %v, want >= 10 (graceful SIGTERM shutdown)", ps.TerminationGracePeriodSeconds)
	}
	// Tolerate every taint: an empty key with operator Exists.
	all := false
	for _, tol := range ps.Tolerations {
		if tol.Key == "" && tol.Operator == "Exists" && tol.Effect == "" {
			all = true
		}
	}
	if !all {
		t.Error("tolerations must include {operator: Exists} to run on every node")
	}
	// BPF objects exist for amd64 and arm64 (internal/bpf): exactly those.
	var arches []string
	for _, term := range ps.Affinity.NodeAffinity.Required.Terms {
		for _, e := range term.MatchExpressions {
			if e.Key == "kubernetes.io/arch" && e.Operator == "In" {
				arches = append(arches, e.Values...)
			}
		}
	}
	if want := committedArches(t); !slices.Equal(arches, want) {
		t.Errorf("node affinity kubernetes.io/arch In %v, want %v (the architectures of internal/bpf's objects)", arches, want)
	}
	if _, ok := ps.NodeSelector["kubernetes.io/arch"]; ok {
		t.Error("nodeSelector kubernetes.io/arch admits one architecture; the node affinity says which")
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
	caps := m.container(t).SecurityContext.Capabilities
	got := slices.Clone(caps.Add)
	sort.Strings(got)
	if !slices.Equal(got, wantCaps) {
		t.Errorf("capabilities.add = %v, want exactly %v", got, wantCaps)
	}
	for _, c := range caps.Add {
		if strings.EqualFold(c, "ALL") || strings.HasPrefix(strings.ToUpper(c), "CAP_") {
			t.Errorf("capabilities.add has %q: no ALL, and names without CAP_ as Kubernetes wants", c)
		}
	}
	if !slices.Contains(caps.Drop, "ALL") {
		t.Errorf("capabilities.drop = %v, want ALL (then add back only what is needed)", caps.Drop)
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

// TestArgsPortsProbesService: one port, from --listen to the container port,
// the probes, the annotations, the Service and the ServiceMonitor.
func TestArgsPortsProbesService(t *testing.T) {
	m := loadManifests(t)
	c := m.container(t)
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("args = %v, want serve first", c.Args)
	}
	if len(c.Command) != 0 {
		t.Errorf("command = %v: leave it to the image's ENTRYPOINT", c.Command)
	}
	listen := ""
	for i, a := range c.Args {
		if a == "--listen" && i+1 < len(c.Args) {
			listen = c.Args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--listen="); ok {
			listen = v
		}
	}
	if listen == "" {
		t.Fatalf("args = %v, want --listen (the default 127.0.0.1 is unreachable for Prometheus)", c.Args)
	}
	host, portStr, ok := strings.Cut(listen, ":")
	if !ok || host != "" {
		t.Errorf("--listen %q: want :PORT, every address of the node", listen)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("--listen %q: %v", listen, err)
	}
	if !slices.Contains(c.Args, "--top-flows") {
		t.Errorf("args = %v, want --top-flows (bounds the per-flow series)", c.Args)
	}

	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != port || c.Ports[0].Name == "" {
		t.Fatalf("ports = %+v, want one named port %d", c.Ports, port)
	}
	portName := c.Ports[0].Name

	// Probes: /healthz on the container port (by name or number).
	probes := map[string]*probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
	for _, kind := range []string{"readiness", "liveness"} {
		if probes[kind] == nil {
			t.Errorf("no %sProbe", kind)
		}
	}
	for kind, p := range probes {
		if p == nil {
			continue
		}
		if p.HTTPGet.Path != "/healthz" {
			t.Errorf("%sProbe path %q, want /healthz", kind, p.HTTPGet.Path)
		}
		if p.HTTPGet.Port != portName && p.HTTPGet.Port != port {
			t.Errorf("%sProbe port %v, want %q or %d", kind, p.HTTPGet.Port, portName, port)
		}
	}

	// Annotation-based scraping.
	ann := m.daemonSet.Spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(port) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("pod annotations %v, want prometheus.io/scrape=true, port=%d, path=/metrics", ann, port)
	}

	// Headless Service on the same port name, selecting the pods.
	svc := m.service
	if svc.Spec.ClusterIP != "None" {
		t.Errorf("Service clusterIP %q, want None (headless)", svc.Spec.ClusterIP)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service ports %+v, want one", svc.Spec.Ports)
	}
	sp := svc.Spec.Ports[0]
	if sp.Name != portName || sp.Port != port || (sp.TargetPort != portName && sp.TargetPort != port) {
		t.Errorf("Service port %+v, want name %q, port %d, targetPort %q", sp, portName, port, portName)
	}
	podLabels := m.daemonSet.Spec.Template.Metadata.Labels
	if !subset(svc.Spec.Selector, podLabels) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service selector %v does not select pod labels %v", svc.Spec.Selector, podLabels)
	}
	if sel := m.daemonSet.Spec.Selector.MatchLabels; !subset(sel, podLabels) || len(sel) == 0 {
		t.Errorf("DaemonSet selector %v does not match its template labels %v", sel, podLabels)
	}

	// ServiceMonitor: selects the Service, in its namespace, on its port name.
	sm := m.serviceMonitor
	if sel := sm.Spec.Selector.MatchLabels; !subset(sel, svc.Metadata.Labels) || len(sel) == 0 {
		t.Errorf("ServiceMonitor selector %v does not select Service labels %v", sel, svc.Metadata.Labels)
	}
	if !sm.Spec.NamespaceSelector.Any && !slices.Contains(sm.Spec.NamespaceSelector.MatchNames, svc.Metadata.Namespace) {
		t.Errorf("ServiceMonitor namespaceSelector %+v misses the Service's namespace %q", sm.Spec.NamespaceSelector, svc.Metadata.Namespace)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %+v, want one", sm.Spec.Endpoints)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != portName {
		t.Errorf("ServiceMonitor endpoint port %q, want the Service's port name %q", ep.Port, portName)
	}
	if ep.Path != "/metrics" {
		t.Errorf("ServiceMonitor path %q, want /metrics", ep.Path)
	}
}

func subset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}

func TestMounts(t *testing.T) {
	m := loadManifests(t)
	ps := m.daemonSet.Spec.Template.Spec
	hostPaths := map[string]string{}
	for _, v := range ps.Volumes {
		hostPaths[v.Name] = v.HostPath.Path
	}
	type want struct {
		hostPath    string
		propagation string
	}
	wants := map[string]want{
		netns.Dir:         {netns.Dir, "HostToContainer"}, // named namespaces made after start
		"/sys/fs/cgroup":  {"/sys/fs/cgroup", ""},         // same path: dropspot reads /proc/self/mounts
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
		if vm.MountPropagation != w.propagation {
			t.Errorf("mount %s: mountPropagation %q, want %q", vm.MountPath, vm.MountPropagation, w.propagation)
		}
	}
	for p := range wants {
		if !seen[p] {
			t.Errorf("no mount at %s", p)
		}
	}
}

// quantity parses the Kubernetes quantities used here (Mi, Gi, m, plain).
func quantity(t *testing.T, s string) float64 {
	t.Helper()
	for suffix, mult := range map[string]float64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "m": 1e-3} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil {
				t.Fatalf("quantity %q: %v", s, err)
			}
			return v * mult
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("quantity %q: %v", s, err)
	}
	return v
}

func TestResources(t *testing.T) {
	m := loadManifests(t)
	r := m.container(t).Resources
	for _, res := range []string{"cpu", "memory"} {
		req, lim := r.Requests[res], r.Limits[res]
		if req == "" || lim == "" {
			t.Errorf("%s: request %q, limit %q: want both", res, req, lim)
			continue
		}
		if quantity(t, req) > quantity(t, lim) {
			t.Errorf("%s request %s above its limit %s", res, req, lim)
		}
	}
	// The Go heap is capped by GOMEMLIMIT; the BPF maps come on top of it in
	// the same cgroup on kernels >= 5.11: 65536 × 288 B = 18 MiB for the
	// default flow table (one shared value, whatever the CPU count), ~4 MiB
	// for the rest. Leave room for Go's non-heap memory.
	goLimit := 0.0
	for _, e := range m.container(t).Env {
		if e.Name == "GOMEMLIMIT" {
			goLimit = quantity(t, strings.TrimSuffix(e.Value, "B"))
		}
	}
	if goLimit == 0 {
		t.Fatal("no GOMEMLIMIT: the heap of a full flow table would grow to twice its live size")
	}
	const mib = 1 << 20
	const maps = (18 + 4) * mib
	if lim := quantity(t, r.Limits["memory"]); lim < goLimit+64*mib+maps {
		t.Errorf("memory limit %s: below GOMEMLIMIT + 64 MiB + the maps (%.0f MiB)",
			r.Limits["memory"], (goLimit+64*mib+maps)/mib)
	}
	if req := quantity(t, r.Requests["memory"]); req < goLimit {
		t.Errorf("memory request %s below GOMEMLIMIT: a full flow table uses that much", r.Requests["memory"])
	}
}

// --- Dashboard ---

type panel struct {
	ID         int                 `json:"id"`
	Type       string              `json:"type"`
	Title      string              `json:"title"`
	Datasource *datasource         `json:"datasource"`
	GridPos    *struct{ H, W int } `json:"gridPos"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
		Legend     string      `json:"legendFormat"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // rows
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

const dsVar = "${DS_PROMETHEUS}"

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	data, err := os.ReadFile("grafana/dropspot-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatal("dashboard is not valid JSON")
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// exported is what the exporter declares: metric name -> label names, read
// from internal/metrics' collector itself.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	ch := make(chan *prometheus.Desc, 64)
	metrics.NewCollector(nil, metrics.Options{}).Describe(ch)
	close(ch)
	nameRe := regexp.MustCompile(`fqName: "([^"]+)"`)
	labelsRe := regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	out := map[string][]string{}
	for d := range ch {
		s := d.String()
		n, l := nameRe.FindStringSubmatch(s), labelsRe.FindStringSubmatch(s)
		if n == nil || l == nil {
			t.Fatalf("cannot read descriptor %s", s)
		}
		var labels []string
		if l[1] != "" {
			labels = strings.Split(l[1], ",")
		}
		out[n[1]] = labels
	}
	return out
}

// documented is the metric list the deployment was written against.
var documented = map[string][]string{
	"dropspot_stage_packets_total":         {"stage"},
	"dropspot_stage_bytes_total":           {"stage"},
	"dropspot_stage_skipped_packets_total": {"stage", "why"},
	"dropspot_netns_stage_packets":         {"netns", "netns_name", "stage"},
	"dropspot_drops_total":                 {"netns", "netns_name", "stage", "reason"},
	"dropspot_interface_drops_total":       {"netns", "netns_name", "interface", "reason"},
	"dropspot_unparsed_drops_total":        {"kind", "reason"},
	"dropspot_flow_stage_packets_total":    {"proto", "src", "sport", "dst", "dport", "netns", "stage"},
	"dropspot_flow_lost_packets":           {"proto", "src", "sport", "dst", "dport", "netns", "from", "to"},
	"dropspot_flows":                       nil,
	"dropspot_flows_created_total":         nil,
	"dropspot_flows_evicted_total":         nil,
	"dropspot_overflow_total":              {"kind"},
	"dropspot_hook_info":                   {"stage", "hook"},
	"dropspot_netns_hooked":                nil,
	"dropspot_scrape_duration_seconds":     nil,
}

// targetLabels are added by Prometheus or the ServiceMonitor relabelings.
var targetLabels = []string{"instance", "job", "node", "namespace", "pod", "service", "endpoint", "container"}

func TestDocumentedMetricsAreExported(t *testing.T) {
	got := exported(t)
	for name, labels := range documented {
		have, ok := got[name]
		if !ok {
			t.Errorf("%s: documented but the exporter does not declare it", name)
			continue
		}
		if !slices.Equal(have, labels) {
			t.Errorf("%s: exporter labels %v, documented %v", name, have, labels)
		}
	}
	for name := range got {
		if _, ok := documented[name]; !ok {
			t.Errorf("%s: exported but not in the deployment's list (update deploy/, README series bound)", name)
		}
	}
}

var (
	metricRe  = regexp.MustCompile(`dropspot_[a-z_]+`)
	matcherRe = regexp.MustCompile(`(dropspot_[a-z_]+)\s*\{([^}]*)\}`)
	labelRe   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	groupRe   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	rateRe    = regexp.MustCompile(`\b(?:rate|irate|increase)\s*\(\s*(dropspot_[a-z_]+)`)
)

// checkExpr checks one PromQL expression: only exported metric names, label
// names those metrics (or the scrape) have, rate() only on counters.
func checkExpr(t *testing.T, where, expr string) {
	t.Helper()
	names := metricRe.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s: %q names no dropspot metric", where, expr)
	}
	known := map[string]bool{}
	for _, l := range targetLabels {
		known[l] = true
	}
	for _, n := range names {
		labels, ok := documented[n]
		if !ok {
			t.Errorf("%s: unknown metric %s in %q", where, n, expr)
			continue
		}
		for _, l := range labels {
			known[l] = true
		}
	}
	for _, m := range matcherRe.FindAllStringSubmatch(expr, -1) {
		own := map[string]bool{}
		for _, l := range append(slices.Clone(documented[m[1]]), targetLabels...) {
			own[l] = true
		}
		for _, l := range labelRe.FindAllStringSubmatch(m[2], -1) {
			if !own[l[1]] {
				t.Errorf("%s: %s has no label %q (%q)", where, m[1], l[1], expr)
			}
		}
	}
	for _, g := range groupRe.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !known[l] {
				t.Errorf("%s: grouping label %q is on none of the metrics of %q", where, l, expr)
			}
		}
	}
	for _, r := range rateRe.FindAllStringSubmatch(expr, -1) {
		if !strings.HasSuffix(r[1], "_total") {
			t.Errorf("%s: rate over gauge %s in %q", where, r[1], expr)
		}
	}
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
		t.Errorf("%s: unbalanced brackets in %q", where, expr)
	}
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
		t.Errorf("schemaVersion %d, want about 39", d.SchemaVersion)
	}

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Type {
		case "datasource":
			if v.Name != "DS_PROMETHEUS" || string(v.Query) != `"prometheus"` {
				t.Errorf("datasource variable %s query %s, want DS_PROMETHEUS over prometheus", v.Name, v.Query)
			}
		case "query":
			if v.Datasource == nil || v.Datasource.UID != dsVar {
				t.Errorf("variable %s: datasource %+v, want uid %s", v.Name, v.Datasource, dsVar)
			}
			checkExpr(t, "variable "+v.Name, v.Definition)
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err == nil && q.Query != "" {
				checkExpr(t, "variable "+v.Name, q.Query)
			}
		}
	}
	for _, want := range []string{"DS_PROMETHEUS", "instance", "netns_name"} {
		if !vars[want] {
			t.Errorf("no template variable %s", want)
		}
	}

	ids := map[int]bool{}
	titles := map[string]bool{}
	queries := 0
	for _, p := range allPanels(d.Panels) {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			t.Errorf("%s: duplicate id", where)
		}
		ids[p.ID] = true
		titles[p.Title] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("%s: no gridPos", where)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar {
			t.Errorf("%s: datasource %+v, want uid %s", where, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		for _, tg := range p.Targets {
			queries++
			if tg.Datasource != nil && tg.Datasource.UID != dsVar {
				t.Errorf("%s %s: datasource %+v, want uid %s", where, tg.RefID, tg.Datasource, dsVar)
			}
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("%s %s: %q ignores the instance variable", where, tg.RefID, tg.Expr)
			}
			checkExpr(t, where+" "+tg.RefID, tg.Expr)
		}
	}
	if queries == 0 {
		t.Fatal("dashboard has no queries")
	}
	for _, want := range []string{"Drops/s by reason and stage", "Drops/s per node", "Packets/s reaching each stage (path order)",
		"Top lossy flows", "Overflow counters", "Hook plan"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

// TestFunnelInPathOrder: the bar gauge shows one query per stage, in the
// order packets travel (Prometheus would return them in any order).
func TestFunnelInPathOrder(t *testing.T) {
	d := loadDashboard(t)
	stageRe := regexp.MustCompile(`dropspot_stage_packets_total\{[^}]*stage="([^"]+)"`)
	for _, p := range allPanels(d.Panels) {
		if p.Type != "bargauge" {
			continue
		}
		var got []string
		for _, tg := range p.Targets {
			m := stageRe.FindStringSubmatch(tg.Expr)
			if m == nil || !strings.Contains(tg.Expr, "rate(") {
				t.Fatalf("funnel query %q: want rate(dropspot_stage_packets_total{stage=...})", tg.Expr)
			}
			if tg.Legend != m[1] {
				t.Errorf("funnel query for %s has legend %q", m[1], tg.Legend)
			}
			got = append(got, m[1])
		}
		var want []string
		for s := range stage.Count {
			want = append(want, stage.Stage(s).String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("funnel stages %v, want path order %v", got, want)
		}
		return
	}
	t.Fatal("no bar gauge funnel panel")
}

// TestDockerfile: the image runs dropspot directly, built statically from
// the command that exists.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{
		"FROM --platform=$BUILDPLATFORM golang:1.26 AS build",
		"GOARCH=$TARGETARCH",
		"CGO_ENABLED=0",
		"-o /dropspot ./cmd/dropspot",
		`ENTRYPOINT ["/dropspot"]`,
		`CMD ["serve", "--listen", ":9435"]`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^FROM (gcr\.io/distroless/static\S*|scratch)\s*$`).MatchString(s) {
		t.Error("final stage should be distroless/static or scratch")
	}
	if _, err := os.Stat("../cmd/dropspot/main.go"); err != nil {
		t.Errorf("the Dockerfile builds ./cmd/dropspot: %v", err)
	}
}
