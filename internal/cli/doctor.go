package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/tracer"
)

// doctor resolves the full hook plan and explains it: what each stage got,
// and why every better candidate was refused.
func doctor(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", stdout)
	verbose := fs.BoolP("verbose", "v", false, "log hook decisions to stderr")
	list := fs.String("stages", "all", "resolve the plan for these stages (as watch and serve take them: serve's default is "+stage.Serve.String()+")")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	stages, err := stage.ParseSet(*list)
	if err != nil {
		return badUsage("--stages: %v", err)
	}
	var b strings.Builder
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		fmt.Fprintf(&b, "kernel:       %s %s\n", unix.ByteSliceToString(uts.Release[:]), unix.ByteSliceToString(uts.Machine[:]))
	}
	_, btfErr := os.Stat("/sys/kernel/btf/vmlinux")
	fmt.Fprintf(&b, "BTF:          %s\n", yesNo(btfErr == nil, "/sys/kernel/btf/vmlinux"))
	// The hook plan's own test, so that doctor and the plan never disagree.
	fmt.Fprintf(&b, "kprobes:      %s\n", yesNo(hookplan.KprobesAvailable() == nil, "kprobe PMU or kprobe_events"))
	if root, err := hookplan.CgroupV2Root(); err == nil {
		fmt.Fprintf(&b, "cgroup v2:    %s\n", root)
	} else {
		fmt.Fprintf(&b, "cgroup v2:    no (%v)\n", err)
	}
	fmt.Fprintf(&b, "capabilities: %s\n", capabilities())

	fmt.Fprintf(&b, "stages:       %s\n", stages)
	t, err := tracer.Start(tracer.Config{Log: logger(stderr, *verbose), Stages: stages})
	if err != nil {
		io.WriteString(stdout, b.String())
		return err
	}
	defer t.Close()
	fmt.Fprintf(&b, "netns hooked: %d (netfilter links are per namespace)\n\n", t.Plan.Namespaces())
	if len(t.Plan.Refused) > 0 {
		// Once per family: it would be the same words at every stage.
		b.WriteString("hook families refused on this kernel (no stage tries them):\n")
		for _, r := range t.Plan.Refused {
			fmt.Fprintf(&b, "  %-10s  %s\n", r.Kind, r.Reason)
		}
		b.WriteString("\n")
	}
	for _, s := range append(stage.All(), stage.Drops, stage.TCPRetransmit) {
		chosen := "UNAVAILABLE"
		if !stages.Has(s) {
			chosen = "not chosen (--stages)"
		}
		for _, h := range t.Plan.Hooks {
			if h.Stage == s {
				chosen = h.Name
			}
		}
		fmt.Fprintf(&b, "%-15s %s\n", s, chosen)
		for _, r := range t.Plan.Rejected {
			if r.Stage == s && !r.Family {
				fmt.Fprintf(&b, "%-15s   rejected %s: %s\n", "", r.Candidate, r.Reason)
			}
		}
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

func yesNo(ok bool, what string) string {
	if ok {
		return "yes (" + what + ")"
	}
	return "no (" + what + " missing)"
}

// capabilities lists the effective capabilities dropspot cares about.
func capabilities() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown: " + err.Error()
	}
	var eff uint64
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			eff, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	var out []string
	for _, c := range []struct {
		name string
		bit  uint
	}{{"CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN}, {"CAP_NET_ADMIN", unix.CAP_NET_ADMIN},
		{"CAP_BPF", unix.CAP_BPF}, {"CAP_PERFMON", unix.CAP_PERFMON}} {
		mark := "-"
		if eff&(1<<c.bit) != 0 {
			mark = "+"
		}
		out = append(out, mark+c.name)
	}
	return strings.Join(out, " ")
}
