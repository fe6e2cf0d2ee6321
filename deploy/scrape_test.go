package deploy

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/dropspot/dropspot/internal/stage"
)

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
	listen := flagValue(c.Args, "--listen")
	if listen == "" {
		t.Fatalf("args = %v, want --listen (the default 127.0.0.1 is unreachable for Prometheus)", c.Args)
	}
	host, portStr, ok := strings.Cut(listen, ":")
	if !ok || host != "" {
		t.Errorf("--listen %q: want :PORT, every address of the node", listen)
	}
	port64, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil {
		t.Fatalf("--listen %q: %v", listen, err)
	}
	port := int32(port64)
	if !slices.Contains(c.Args, "--top-flows") {
		t.Errorf("args = %v, want --top-flows (bounds the per-flow series)", c.Args)
	}

	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != port || c.Ports[0].Name == "" {
		t.Fatalf("ports = %+v, want one named port %d", c.Ports, port)
	}
	portName := c.Ports[0].Name

	// Probes: /healthz on the container port (by name or number).
	probes := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
	for _, kind := range []string{"readiness", "liveness"} {
		if probes[kind] == nil {
			t.Errorf("no %sProbe", kind)
		}
	}
	for kind, p := range probes {
		if p == nil {
			continue
		}
		get := p.HTTPGet
		if get == nil {
			t.Errorf("%sProbe is not an httpGet", kind)
			continue
		}
		if get.Path != "/healthz" {
			t.Errorf("%sProbe path %q, want /healthz", kind, get.Path)
		}
		if !isPort(get.Port, portName, port) {
			t.Errorf("%sProbe port %s, want %q or %d", kind, get.Port.String(), portName, port)
		}
	}

	// Annotation-based scraping.
	ann := m.daemonSet.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(port)) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("pod annotations %v, want prometheus.io/scrape=true, port=%d, path=/metrics", ann, port)
	}

	// Headless Service on the same port name, selecting the pods.
	svc := m.service
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service clusterIP %q, want None (headless)", svc.Spec.ClusterIP)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service ports %+v, want one", svc.Spec.Ports)
	}
	sp := svc.Spec.Ports[0]
	if sp.Name != portName || sp.Port != port || !isPort(sp.TargetPort, portName, port) {
		t.Errorf("Service port %+v, want name %q, port %d, targetPort %q", sp, portName, port, portName)
	}
	podLabels := m.daemonSet.Spec.Template.Labels
	if !subset(svc.Spec.Selector, podLabels) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service selector %v does not select pod labels %v", svc.Spec.Selector, podLabels)
	}
	if sel := m.daemonSet.Spec.Selector; sel == nil || !subset(sel.MatchLabels, podLabels) || len(sel.MatchLabels) == 0 {
		t.Errorf("DaemonSet selector %v does not match its template labels %v", sel, podLabels)
	}

	// ServiceMonitor: selects the Service, in its namespace, on its port name.
	sm := m.serviceMonitor
	if sel := sm.Spec.Selector.MatchLabels; !subset(sel, svc.Labels) || len(sel) == 0 {
		t.Errorf("ServiceMonitor selector %v does not select Service labels %v", sel, svc.Labels)
	}
	if ns := sm.Spec.NamespaceSelector; !ns.Any && !slices.Contains(ns.MatchNames, svc.Namespace) {
		t.Errorf("ServiceMonitor namespaceSelector %+v misses the Service's namespace %q", ns, svc.Namespace)
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

// subset: every label of sub is in of with the same value.
func subset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}

// TestDaemonSetStages: the DaemonSet says which stages it hooks, the drop
// hook among them (the dashboard's drop panels need it), and the funnel
// has a bar for each.
func TestDaemonSetStages(t *testing.T) {
	c := loadManifests(t).container(t)
	list := flagValue(c.Args, "--stages")
	if list == "" {
		t.Fatalf("args = %v, want --stages (written out, so that it is seen and changed)", c.Args)
	}
	set, err := stage.ParseSet(list)
	if err != nil {
		t.Fatalf("--stages %q: %v", list, err)
	}
	if !set.Has(stage.Drops) {
		t.Errorf("--stages %q leaves out the drop hook", list)
	}
	funnel := map[string]bool{}
	for _, p := range allPanels(loadDashboard(t).Panels) {
		for _, tg := range p.Targets {
			if st := funnelStage(tg.Expr); st != "" {
				funnel[st] = true
			}
		}
	}
	for _, s := range set.Stages() {
		if s != stage.Drops && !funnel[s.String()] {
			t.Errorf("stage %v is chosen but has no bar in the funnel", s)
		}
	}
}

// flagValue is the value args give a flag ("--name V" or "--name=V"; the
// last wins, as for the flag parser), or "".
func flagValue(args []string, name string) string {
	v := ""
	for i, a := range args {
		if a == name && i+1 < len(args) {
			v = args[i+1]
		} else if after, ok := strings.CutPrefix(a, name+"="); ok {
			v = after
		}
	}
	return v
}
