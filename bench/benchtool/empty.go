package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/netns"
)

// emptyProgs loads a program that only returns on every hook dropspot's
// plan uses, attaches it (netfilter links in each given namespace),
// prints "ready" and holds until SIGINT/SIGTERM. Its bpf_stats are the
// floor a hook costs before any work is done.
func emptyProgs(args []string) error {
	fs := flag.NewFlagSet("empty", flag.ContinueOnError)
	nsPaths := fs.String("netns", "", "comma-separated namespace paths for the netfilter links")
	cgroup := fs.String("cgroup", "", "cgroup v2 root for cgroup_skb ingress")
	families := fs.String("families", "tp,nf,cg", "hook families: tp (tp_btf), nf (netfilter), cg (cgroup_skb)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return err
	}
	fam := map[string]bool{}
	for _, f := range strings.Split(*families, ",") {
		fam[strings.TrimSpace(f)] = true
	}
	var paths []string
	if *nsPaths != "" {
		paths = strings.Split(*nsPaths, ",")
	}
	var held holder
	defer held.close()
	seen := map[string]bool{}
	for _, p := range planProbes() {
		if seen[p.hook] {
			continue // LOCAL_IN carries two of dropspot's stages; kfree_skb has two variants
		}
		seen[p.hook] = true
		var err error
		switch {
		case p.kind == hookplan.Tracepoint && fam["tp"]:
			err = held.emptyTracepoint(strings.TrimPrefix(p.hook, "tp_btf/"))
		case p.kind == hookplan.Netfilter && fam["nf"]:
			// a middle priority, away from dropspot's first and last
			err = held.emptyNetfilter(p, paths, int32(-100000-len(seen)))
		case p.kind == hookplan.CgroupSKB && fam["cg"] && *cgroup != "":
			err = held.emptyCgroup(*cgroup)
		}
		if err != nil {
			return fmt.Errorf("empty program on %s: %w", p.hook, err)
		}
	}
	holdUntilSignal()
	return nil
}

// holder keeps programs and links open until the helper ends.
type holder []io.Closer

func (h *holder) close() {
	for _, c := range *h {
		c.Close()
	}
}

// load loads a program that only returns ret and says which hook it is
// for ("prog ID HOOK").
func (h *holder) load(spec *ebpf.ProgramSpec, ret int32, hook string) (*ebpf.Program, error) {
	spec.Instructions = asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()}
	spec.License = "GPL"
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return nil, err
	}
	*h = append(*h, prog)
	announce(prog, hook)
	return prog, nil
}

func (h *holder) emptyTracepoint(tp string) error {
	prog, err := h.load(&ebpf.ProgramSpec{Name: "e_" + tp, Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: tp}, 0, "tp_btf/"+tp)
	if err != nil {
		return err
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		return err
	}
	*h = append(*h, l)
	return nil
}

// emptyNetfilter attaches an NF_ACCEPT program in each namespace, IPv4
// and IPv6.
func (h *holder) emptyNetfilter(p planProbe, nsPaths []string, priority int32) error {
	name := strings.ToLower(strings.TrimPrefix(p.hook, "netfilter/"))
	prog, err := h.load(&ebpf.ProgramSpec{Name: "e_nf_" + name, Type: ebpf.Netfilter, AttachType: ebpf.AttachNetfilter}, 1, p.hook)
	if err != nil {
		return err
	}
	for _, path := range nsPaths {
		err := netns.Do(path, func() error {
			for _, pf := range []link.NetfilterProtocolFamily{link.NetfilterProtoIPv4, link.NetfilterProtoIPv6} {
				l, err := link.AttachNetfilter(link.NetfilterOptions{
					Program: prog, ProtocolFamily: pf, Hook: link.NetfilterInetHook(p.nfHook), Priority: priority,
				})
				if err != nil {
					return err
				}
				*h = append(*h, l)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("in %s: %w", path, err)
		}
	}
	return nil
}

func (h *holder) emptyCgroup(root string) error {
	prog, err := h.load(&ebpf.ProgramSpec{Name: "e_cg_ingress", Type: ebpf.CGroupSKB, AttachType: ebpf.AttachCGroupInetIngress}, 1, "cgroup_skb/ingress")
	if err != nil {
		return err
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: ebpf.AttachCGroupInetIngress, Program: prog})
	if err != nil {
		return err
	}
	*h = append(*h, l)
	return nil
}

// announce tells the harness which program id sits on which hook.
func announce(prog *ebpf.Program, hook string) {
	info, err := prog.Info()
	if err != nil {
		return
	}
	if id, ok := info.ID(); ok {
		fmt.Printf("prog %d %s\n", id, hook)
	}
}

// holdUntilSignal says "ready" to the harness and waits for SIGINT or
// SIGTERM.
func holdUntilSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	fmt.Println("ready")
	<-sig
}
