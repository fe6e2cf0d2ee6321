package main

import (
	"fmt"
	"slices"
	"strings"
)

// realisticHostText says what the realistic host shape is, for headings.
func realisticHostText() string {
	k := defaultKubeShape
	return fmt.Sprintf("conntrack and a kube-proxy node's iptables-nft ruleset in both namespaces: %d rules, %d ClusterIP services with a KUBE-SVC-* chain each, KUBE-SEP-* endpoint chains with DNAT, none matching the measured traffic",
		countRules(k.ruleset()), k.Services)
}

// hostsSideBySide puts each configuration's ratios on the bare and the
// realistic host next to each other, and says what the ruleset and
// conntrack cost by themselves (the realistic baseline ÷ the bare
// baseline of the same repetition).
func (r *Results) hostsSideBySide(p printer) {
	p("## Host shapes side by side (same run)\n\n")
	p("Ratios: median [min–max] over repetitions of configuration ÷ baseline of the same host shape and repetition. The baseline row is the realistic baseline ÷ the bare baseline of the same repetition: what the rules and conntrack cost with no tool attached.\n\n")
	p("| configuration | TCP bare | TCP realistic | UDP 64 B sent bare | UDP 64 B sent realistic | UDP 64 B received bare | UDP 64 B received realistic |\n|---|---|---|---|---|---|---|\n")
	var baseOnly []ThroughputSample
	for _, s := range r.Throughput {
		if s.Tool != "baseline" {
			continue
		}
		if s.Host != "" {
			s.Tool = "baseline on " + s.Host
		}
		baseOnly = append(baseOnly, s)
	}
	cross := ratios(baseOnly, throughputMetrics)
	row := func(label string, bare, realistic func(metric string) summary) {
		p("| %s", label)
		for _, m := range throughputMetrics {
			p(" | %s | %s", spread(bare(m.name), "%.3f"), spread(realistic(m.name), "%.3f"))
		}
		p(" |\n")
	}
	one := summary{N: 1, Median: 1, Min: 1, Max: 1}
	row("baseline", func(string) summary { return one }, func(metric string) summary {
		i := slices.IndexFunc(cross, func(x Ratio) bool { return x.Metric == metric })
		if i < 0 {
			return summary{}
		}
		return cross[i].Ratio
	})
	var tools []string
	for _, x := range r.Summary.Ratios {
		if !slices.Contains(tools, x.Tool) {
			tools = append(tools, x.Tool)
		}
	}
	for _, t := range tools {
		on := func(host string) func(string) summary {
			return func(metric string) summary {
				x, _ := r.ratioOn(host, t, metric)
				return x.Ratio
			}
		}
		row(t, on(""), on(hostRealistic))
	}
	r.hostChecksMarkdown(p)
	p("\n")
}

// hostChecksMarkdown proves the shapes were what they say: rules loaded
// and conntrack entries each block of measurements left behind.
func (r *Results) hostChecksMarkdown(p printer) {
	if len(r.HostChecks) == 0 {
		return
	}
	p("\nWhat each block of measurements ran on (`iptables-save` rules and `conntrack -C` entries afterwards, namespace A (sender) / B (receiver)); bare must show no rules and no entries (conntrack idle), realistic the ruleset and the block's connections:\n\n")
	p("| phase | rep | host | rules A / B | conntrack entries A / B | |\n|---|---|---|---|---|---|\n")
	for _, c := range r.HostChecks {
		p("| %s | %d | %s | %d / %d | %d / %d | %s |\n", c.Phase, c.Rep, c.Host, c.Rules[0], c.Rules[1], c.Conntrack[0], c.Conntrack[1], c.verdict())
	}
}

// verdict says whether a block ran on the shape it claims.
func (c HostCheck) verdict() string {
	var bad []string
	if c.Error != "" {
		bad = append(bad, "check failed: "+c.Error)
	}
	switch c.Host {
	case hostBare:
		if c.Rules != [2]int{} || c.Conntrack != [2]int{} {
			bad = append(bad, "not bare")
		}
	case hostRealistic:
		want := countRules(defaultKubeShape.ruleset())
		if c.Rules != [2]int{want, want} {
			bad = append(bad, fmt.Sprintf("want %d rules in each", want))
		}
		if c.Conntrack[0] == 0 || c.Conntrack[1] == 0 {
			bad = append(bad, "conntrack tracked nothing")
		}
	}
	if len(bad) > 0 {
		return "**" + strings.Join(bad, "; ") + "**"
	}
	return "ok"
}
