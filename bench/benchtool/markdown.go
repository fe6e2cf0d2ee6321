package main

import (
	"fmt"
	"strings"
)

// printer writes a piece of results.md.
type printer func(format string, a ...any)

func spread(s summary, format string) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return fmt.Sprintf(format, s.Median)
	}
	return fmt.Sprintf(format+" ["+format+"–"+format+"]", s.Median, s.Min, s.Max)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// Markdown renders the run as the tables BENCHMARKS.md quotes: the run's
// header, each phase's section, the targets the phases judge, problems.
func (r *Results) Markdown(o options) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	r.headerMarkdown(p, o)
	for _, section := range []func(printer){
		r.throughputMarkdown, r.accuracyMarkdown, r.dropStormMarkdown, r.hooksMarkdown, r.componentsMarkdown,
		r.kprofileMarkdown, r.scaleMarkdown, r.uprofileMarkdown, r.startupMarkdown, r.sprofileMarkdown,
	} {
		section(p)
	}
	p("\n## Targets\n\n| target | measured | |\n|---|---|---|\n")
	for _, targets := range []func(printer){r.throughputTargets, r.hookTargets, r.scaleTargets, r.startupTargets} {
		targets(p)
	}
	r.problemsMarkdown(p)
	return b.String()
}

func (r *Results) headerMarkdown(p printer, o options) {
	m := r.Machine
	p("# dropspot benchmark results\n\n")
	p("- command: `%s`\n", strings.TrimSpace(r.Command))
	p("- run: %s → %s (%.0f s)\n", r.Started.Format("2006-01-02 15:04:05Z"), r.Finished.Format("15:04:05Z"), r.Finished.Sub(r.Started).Seconds())
	p("- machine: %s, %d CPUs (%s), %s; %s\n", m.Kernel, m.CPUs, m.CPU, m.MemGiB, m.OS)
	p("- tools: %s\n", m.Tools)
	p("- dropspot measured: %s\n", m.Dropspot)
	p("- load average at start / end: %s / %s (other work on the machine shows here)\n", m.LoadAvgStart, m.LoadAvgEnd)
	p("- repetitions: throughput and drop storm %d (tools interleaved, order rotated each repetition), TCP %gs, UDP %gs; hook windows %d×%gs per traffic type; startup %d\n",
		o.reps, o.tcpSeconds, o.udpSeconds, o.hookReps, o.hookSeconds, o.startupReps)
	if shapesHosts(o.hosts) {
		p("- host shapes of the throughput and hooks phases: %s, each repetition's order rotated; realistic = %s\n", strings.Join(o.hosts, ", "), realisticHostText())
	}
	p("\n")
}

func (r *Results) problemsMarkdown(p printer) {
	if len(r.Warnings) > 0 {
		p("\n## Warnings\n\n")
		for _, w := range r.Warnings {
			p("- %s\n", w)
		}
	}
	if len(r.Errors) > 0 {
		p("\n## Errors\n\n")
		for _, e := range r.Errors {
			p("- %s\n", e)
		}
	}
}
