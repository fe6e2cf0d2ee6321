package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/dropspot/dropspot/internal/netns"
)

// emptyTracepoints are the tp_btf hooks dropspot's plan uses on a kernel
// without fentry/kprobes (tp_<name> in bpf/hooks/tracepoint.h, drop.h).
var emptyTracepoints = []struct{ tp, name string }{
	{"netif_rx", "e_netif_rx"}, {"napi_gro_receive_entry", "e_gro_entry"},
	{"netif_receive_skb_entry", "e_rcv_entry"}, {"netif_receive_skb_list_entry", "e_rcv_list"},
	{"netif_receive_skb", "e_netif_rcv_skb"}, {"net_dev_queue", "e_dev_queue"},
	{"net_dev_start_xmit", "e_start_xmit"}, {"net_dev_xmit", "e_dev_xmit"}, {"kfree_skb", "e_kfree_skb"},
}

// emptyNetfilter are the netfilter hooks dropspot's plan uses; the empty
// programs sit at a middle priority, away from dropspot's first/last.
var emptyNetfilter = []struct {
	name string
	hook link.NetfilterInetHook
}{
	{"pre_routing", link.NetfilterInetPreRouting},
	{"local_in", link.NetfilterInetLocalIn},
	{"forward", link.NetfilterInetForward},
	{"local_out", link.NetfilterInetLocalOut},
	{"post_routing", link.NetfilterInetPostRouting},
}

// emptyProgs loads a program that only returns on every hook dropspot
// uses, attaches it (netfilter links in each given namespace), prints
// "ready" and holds until SIGINT/SIGTERM. Its bpf_stats are the floor a
// hook costs before any work is done.
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
	ret := func(v int32) asm.Instructions {
		return asm.Instructions{asm.Mov.Imm(asm.R0, v), asm.Return()}
	}
	var links []link.Link
	defer func() {
		for _, l := range links {
			l.Close()
		}
	}()
	fam := map[string]bool{}
	for _, f := range strings.Split(*families, ",") {
		fam[strings.TrimSpace(f)] = true
	}
	if !fam["tp"] {
		emptyTracepoints = nil
	}
	if !fam["nf"] {
		emptyNetfilter = nil
	}
	if !fam["cg"] {
		*cgroup = ""
	}
	for _, e := range emptyTracepoints {
		tp := e.tp
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: e.name, Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp,
			AttachTo: tp, Instructions: ret(0), License: "GPL",
		})
		if err != nil {
			return fmt.Errorf("load empty tp_btf/%s: %w", tp, err)
		}
		defer prog.Close()
		l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return fmt.Errorf("attach empty tp_btf/%s: %w", tp, err)
		}
		links = append(links, l)
		announce(prog, "tp_btf/"+tp)
	}
	var paths []string
	if *nsPaths != "" {
		paths = strings.Split(*nsPaths, ",")
	}
	for i, h := range emptyNetfilter {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "e_nf_" + h.name, Type: ebpf.Netfilter, AttachType: ebpf.AttachNetfilter,
			Instructions: ret(1), License: "GPL", // NF_ACCEPT
		})
		if err != nil {
			return fmt.Errorf("load empty netfilter %s: %w", h.name, err)
		}
		defer prog.Close()
		announce(prog, "netfilter/"+strings.ToUpper(h.name))
		for _, p := range paths {
			err := netns.Do(p, func() error {
				for _, pf := range []link.NetfilterProtocolFamily{link.NetfilterProtoIPv4, link.NetfilterProtoIPv6} {
					l, err := link.AttachNetfilter(link.NetfilterOptions{
						Program: prog, ProtocolFamily: pf, Hook: h.hook, Priority: int32(-100000 - i),
					})
					if err != nil {
						return err
					}
					links = append(links, l)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("attach empty netfilter %s in %s: %w", h.name, p, err)
			}
		}
	}
	if *cgroup != "" {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "e_cg_ingress", Type: ebpf.CGroupSKB, AttachType: ebpf.AttachCGroupInetIngress,
			Instructions: ret(1), License: "GPL",
		})
		if err != nil {
			return fmt.Errorf("load empty cgroup_skb: %w", err)
		}
		defer prog.Close()
		l, err := link.AttachCgroup(link.CgroupOptions{Path: *cgroup, Attach: ebpf.AttachCGroupInetIngress, Program: prog})
		if err != nil {
			return fmt.Errorf("attach empty cgroup_skb: %w", err)
		}
		links = append(links, l)
		announce(prog, "cgroup_skb/ingress")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	fmt.Println("ready")
	<-sig
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
