package main

import (
	"slices"
	"strings"

	"github.com/dropspot/dropspot/internal/hookplan"
)

// planProbe is one program of dropspot's hook plan on a kernel without
// function tracing, and the hook it sits on as the harness names hooks:
// "tp_btf/net_dev_queue", "netfilter/LOCAL_IN", "cgroup_skb/ingress".
type planProbe struct {
	program, hook string
	kind          hookplan.Kind
	nfHook        uint32
}

// planProbes are the hook plan's tracepoint, netfilter and cgroup_skb
// programs in path order (hookplan.Candidates), the ones dropspot runs
// where fentry and kprobes are forbidden.
func planProbes() []planProbe {
	var out []planProbe
	for _, c := range hookplan.Candidates() {
		if c.Kind == hookplan.Fentry || c.Kind == hookplan.Kprobe {
			continue
		}
		for _, p := range c.Probes {
			// "kfree_skb(no reason)": the old kernels' variant, same event
			target, _, _ := strings.Cut(p.Target, "(")
			out = append(out, planProbe{program: p.Program, hook: string(c.Kind) + "/" + target, kind: c.Kind, nfHook: c.NFHook})
		}
	}
	return out
}

// dropspotHook names the hook of a dropspot program by its name.
func dropspotHook(program string) string {
	for _, p := range planProbes() {
		if p.program == program {
			return p.hook
		}
	}
	return "?/" + program
}

// orderOf is a dropspot program's place in path order (unknown ones last).
func orderOf(program string) int {
	probes := planProbes()
	if i := slices.IndexFunc(probes, func(p planProbe) bool { return p.program == program }); i >= 0 {
		return i
	}
	return len(probes)
}
