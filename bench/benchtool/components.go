package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	benchbpf "github.com/dropspot/dropspot/bench/bpf"
)

// Component is one piece of hook work measured alone (phase components).
type Component struct {
	ID         int       `json:"id"`
	Label      string    `json:"label"`
	NsPerRun   []float64 `json:"ns_per_run"`
	Summary    summary   `json:"summary"`
	MinusEmpty float64   `json:"ns_minus_empty"`
}

// phaseComponents measures what single pieces of hook work cost here.
func (b *bench) phaseComponents() error {
	stats, err := statsOn()
	if err != nil {
		return err
	}
	defer stats.Close()
	labels, t, err := b.startLabelled("components", "components", "--hook", "net_dev_queue")
	if err != nil {
		return err
	}
	defer t.stop()
	// in the order attached, which is the order they run in
	res := map[int]*Component{}
	var ids []int
	for _, l := range labels {
		res[l.id] = &Component{ID: l.id, Label: l.label}
		ids = append(ids, l.id)
	}
	for rep := 0; rep < b.opt.hookReps; rep++ {
		before := progStats(ids)
		if _, err := b.udpRun(b.opt.hookSeconds); err != nil {
			return err
		}
		after := progStats(ids)
		for _, id := range ids {
			if ns, runs := after[id].since(before[id]); runs > 0 {
				res[id].NsPerRun = append(res[id].NsPerRun, float64(ns)/float64(runs))
			}
		}
	}
	// the floor: the mean of the empty programs attached first and last
	// (a program's place in the hook's list shifts its ns/run a little)
	var empty float64
	var nempty int
	for _, id := range ids {
		c := res[id]
		c.Summary = summarize(c.NsPerRun)
		if strings.HasPrefix(c.Label, "empty") {
			empty += c.Summary.Median
			nempty++
		}
	}
	if nempty > 0 {
		empty /= float64(nempty)
	}
	for _, id := range ids {
		c := res[id]
		c.MinusEmpty = c.Summary.Median - empty
		b.res.Components = append(b.res.Components, *c)
	}
	return nil
}

func (r *Results) componentsMarkdown(p printer) {
	if len(r.Components) > 0 {
		p("\n### What single pieces of hook work cost here (phase components: one program each on tp_btf/net_dev_queue, UDP flood)\n\n")
		p("| work | ns/run median [min–max] | minus empty |\n|---|---|---|\n")
		for _, c := range r.Components {
			p("| %s | %s | %.0f |\n", c.Label, spread(c.Summary, "%.0f"), c.MinusEmpty)
		}
	}
}

// componentsMain loads the component programs (bpf/bench/components.c)
// on tp_btf/--hook, in the order they are measured in, prints "prog ID
// LABEL" lines and "ready", and holds until SIGINT.
func componentsMain(args []string) error {
	fs := flag.NewFlagSet("components", flag.ContinueOnError)
	hook := fs.String("hook", "net_dev_queue", "tp_btf hook whose first argument is the skb")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return err
	}
	spec, err := benchbpf.LoadComponents()
	if err != nil {
		return err
	}
	for _, p := range spec.Programs {
		p.AttachTo = *hook
	}
	// Only what these fields name (and the maps the programs use) loads.
	var objs struct {
		benchbpf.ComponentsPrograms
		LRU  *ebpf.Map `ebpf:"lru_twin"`
		Hash *ebpf.Map `ebpf:"hash_twin"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return fmt.Errorf("load components: %w", err)
	}
	defer objs.ComponentsPrograms.Close()
	defer objs.LRU.Close()
	defer objs.Hash.Close()
	// the one key the lookups hit: all zeros
	for _, m := range []*ebpf.Map{objs.LRU, objs.Hash} {
		if err := m.Put(make([]byte, m.KeySize()), make([]byte, m.ValueSize())); err != nil {
			return err
		}
	}
	key := objs.LRU.KeySize()
	var held holder
	defer held.close()
	for _, c := range []struct {
		label string
		prog  *ebpf.Program
	}{
		{"empty (attached first)", objs.C_emptyFirst},
		{"bpf_probe_read_kernel ×1 (4 B of the skb)", objs.C_probe1},
		{"bpf_probe_read_kernel ×16", objs.C_probe16},
		{"direct BTF load of skb->len ×16", objs.C_direct16},
		{fmt.Sprintf("LRU_HASH lookup (%d B key, hit) + 2 atomic adds", key), objs.C_lruLookup},
		{fmt.Sprintf("HASH lookup (%d B key, hit) + 2 atomic adds", key), objs.C_hashLookup},
		{"PERCPU_ARRAY lookup + 4 atomic adds", objs.C_arrAtomic},
		{"PERCPU_ARRAY lookup + 4 plain adds", objs.C_arrPlain},
		{"per-CPU skb cache probe, a packet's first stage (takes the slot over)", objs.C_skbcache1st},
		{"per-CPU skb cache probe, a later stage (hit: sets its bit)", objs.C_skbcacheHit},
		{"empty (attached last)", objs.C_emptyLast},
	} {
		l, err := link.AttachTracing(link.TracingOptions{Program: c.prog, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return fmt.Errorf("attach %s: %w", c.label, err)
		}
		held = append(held, l)
		announce(c.prog, c.label)
	}
	holdUntilSignal()
	return nil
}
