package hookplan

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// attachment is what one candidate holds once attached.
type attachment struct {
	progs []*ebpf.Program
	links []link.Link
	// nf is set for netfilter candidates: the program to attach in every
	// other namespace too.
	nf *nfProbe
}

func (a *attachment) close() {
	for _, l := range a.links {
		l.Close()
	}
	for _, p := range a.progs {
		p.Close()
	}
}

// attach loads and attaches every probe of c, or nothing.
func (r *resolver) attach(c Candidate) (_ *attachment, err error) {
	a := &attachment{}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	switch c.Kind {
	case Tracepoint, RawTracepoint:
		for _, p := range c.Probes {
			prog, err := r.load(p.Program, "")
			if err != nil {
				return nil, err
			}
			a.progs = append(a.progs, prog)
			var l link.Link
			if c.Kind == Tracepoint {
				l, err = link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
			} else {
				l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: p.Target, Program: prog})
			}
			if err != nil {
				return nil, fmt.Errorf("attach %s tracepoint %s: %w", c.Kind, p.Target, err)
			}
			a.links = append(a.links, l)
		}
	case Fentry:
		for _, p := range c.Probes {
			if err := r.attachFentry(a, p); err != nil {
				return nil, err
			}
		}
	case Kprobe:
		prog, err := r.load(c.Probes[0].Program, "")
		if err != nil {
			return nil, err
		}
		a.progs = append(a.progs, prog)
		for _, p := range c.Probes {
			if err := r.attachKprobe(a, prog, p); err != nil {
				return nil, err
			}
		}
	case Netfilter:
		prog, err := r.load(c.Probes[0].Program, "")
		if err != nil {
			return nil, err
		}
		a.progs = append(a.progs, prog)
		a.nf = &nfProbe{prog: prog, hook: c.NFHook, priority: c.NFPriority}
		// Prove it attaches here; the namespace watcher then owns the
		// links of every namespace, this one included.
		links, err := a.nf.attachHere()
		for _, l := range links {
			l.Close()
		}
		if err != nil {
			return nil, err
		}
	case CgroupSKB:
		if r.cgroupRoot == "" {
			return nil, fmt.Errorf("no cgroup v2 hierarchy: %v", r.cgroupErr)
		}
		prog, err := r.load(c.Probes[0].Program, "")
		if err != nil {
			return nil, err
		}
		a.progs = append(a.progs, prog)
		l, err := link.AttachCgroup(link.CgroupOptions{Path: r.cgroupRoot, Attach: ebpf.AttachCGroupInetIngress, Program: prog})
		if err != nil {
			return nil, fmt.Errorf("attach to cgroup %s: %w", r.cgroupRoot, err)
		}
		a.links = append(a.links, l)
	default:
		return nil, fmt.Errorf("unknown hook kind %q", c.Kind)
	}
	return a, nil
}

// attachFentry attaches to the function by its exact name: fentry needs the
// function in BTF and an exact symbol, so .constprop copies cannot be used.
func (r *resolver) attachFentry(a *attachment, p Probe) error {
	prog, err := r.load(p.Program, p.Target)
	if err != nil {
		return err
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		prog.Close()
		return fmt.Errorf("attach fentry %s: %w", p.Target, err)
	}
	a.progs = append(a.progs, prog)
	a.links = append(a.links, l)
	return nil
}

// attachKprobe resolves the kernel's spelling via kallsyms first, so that
// "no such function" and "kprobes unavailable" are told apart: cilium/ebpf
// reports both as os.ErrNotExist.
func (r *resolver) attachKprobe(a *attachment, prog *ebpf.Program, p Probe) error {
	if err := KprobesAvailable(); err != nil {
		return err
	}
	if r.symbols == nil {
		return fmt.Errorf("kallsyms unreadable: %v", r.symbolsErr)
	}
	sym, ok := r.symbols.Resolve(p.Target)
	if !ok {
		return fmt.Errorf("kernel has no function %s", p.Target)
	}
	l, err := link.Kprobe(sym, prog, nil)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("kprobe on %s: %w (the symbol exists, so kprobes are unavailable on this kernel)", sym, err)
	}
	if err != nil {
		return fmt.Errorf("kprobe on %s: %w", sym, err)
	}
	a.links = append(a.links, l)
	return nil
}

// nfProbe is a netfilter program with its hook, attached per namespace for
// IPv4 and IPv6.
type nfProbe struct {
	prog     *ebpf.Program
	hook     uint32
	priority int32
}

// nfPriorityTries bounds the search for a free priority: the kernel allows
// one BPF link per (hook, priority), so a second dropspot (or another
// tool at the extreme priority) makes ours move one step inwards.
const nfPriorityTries = 64

// attachHere attaches in the calling thread's network namespace.
func (n *nfProbe) attachHere() ([]link.Link, error) {
	var links []link.Link
	for _, pf := range []link.NetfilterProtocolFamily{link.NetfilterProtoIPv4, link.NetfilterProtoIPv6} {
		l, err := n.attachFamily(pf)
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			return nil, err
		}
		links = append(links, l)
	}
	return links, nil
}

func (n *nfProbe) attachFamily(pf link.NetfilterProtocolFamily) (link.Link, error) {
	step := int32(1)
	if n.priority > 0 {
		step = -1
	}
	var err error
	for i := int32(0); i < nfPriorityTries; i++ {
		var l link.Link
		l, err = link.AttachNetfilter(link.NetfilterOptions{
			Program:        n.prog,
			ProtocolFamily: pf,
			Hook:           link.NetfilterInetHook(n.hook),
			Priority:       n.priority + i*step,
		})
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
	}
	return nil, fmt.Errorf("attach netfilter %s (family %d): %w", nfHookNames[n.hook], pf, err)
}
