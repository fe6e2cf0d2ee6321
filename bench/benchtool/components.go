package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
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
	res := map[int]*Component{}
	var ids []int
	for id, l := range labels {
		res[id] = &Component{ID: id, Label: l}
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for rep := 0; rep < b.opt.hookReps; rep++ {
		before, err := bpftoolProgs()
		if err != nil {
			return err
		}
		if _, err := b.udpRun(b.opt.hookSeconds); err != nil {
			return err
		}
		after, err := bpftoolProgs()
		if err != nil {
			return err
		}
		for _, id := range ids {
			dt := after[id].RunTimeNS - before[id].RunTimeNS
			dc := after[id].RunCnt - before[id].RunCnt
			if dc > 0 {
				res[id].NsPerRun = append(res[id].NsPerRun, float64(dt)/float64(dc))
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

// Component programs: each does one kind of work dropspot's hooks do, on
// one tp_btf hook, so bpf_stats tells what that work costs on this
// machine (ns/run minus the empty program's).
type component struct {
	label string
	name  string
	body  asm.Instructions // after r6 = skb; must leave r0 and exit
}

const flowKeySize = 44    // struct flow_key (bpf/lib/flow.h)
const flowValueSize = 192 // struct flow_counts: 12 stages × packets + bytes

// componentsMain loads the component programs on tp_btf/--hook, prints
// "prog ID LABEL" lines and "ready", and holds until SIGINT.
func componentsMain(args []string) error {
	fs := flag.NewFlagSet("components", flag.ContinueOnError)
	hook := fs.String("hook", "net_dev_queue", "tp_btf hook whose first argument is the skb")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return err
	}
	kspec, err := btf.LoadKernelSpec()
	if err != nil {
		return err
	}
	var skb *btf.Struct
	if err := kspec.TypeByName("sk_buff", &skb); err != nil {
		return err
	}
	lenOff := int16(-1)
	for _, m := range skb.Members {
		if m.Name == "len" {
			lenOff = int16(m.Offset.Bytes())
		}
	}
	if lenOff < 0 {
		return fmt.Errorf("sk_buff.len not found in kernel BTF")
	}

	mkMap := func(t ebpf.MapType, name string, key, val uint32) (*ebpf.Map, error) {
		return ebpf.NewMap(&ebpf.MapSpec{Name: name, Type: t, KeySize: key, ValueSize: val, MaxEntries: 65536})
	}
	lru, err := mkMap(ebpf.LRUHash, "c_lru", flowKeySize, flowValueSize)
	if err != nil {
		return err
	}
	defer lru.Close()
	hash, err := mkMap(ebpf.Hash, "c_hash", flowKeySize, flowValueSize)
	if err != nil {
		return err
	}
	defer hash.Close()
	arr, err := ebpf.NewMap(&ebpf.MapSpec{Name: "c_arr", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 40, MaxEntries: 16})
	if err != nil {
		return err
	}
	defer arr.Close()
	zeroKey := make([]byte, flowKeySize)
	for _, m := range []*ebpf.Map{lru, hash} {
		if err := m.Put(zeroKey, make([]byte, flowValueSize)); err != nil {
			return err
		}
	}

	probeReads := func(n int) asm.Instructions {
		var ins asm.Instructions
		for i := 0; i < n; i++ {
			ins = append(ins,
				asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, -8),
				asm.Mov.Imm(asm.R2, 4),
				asm.Mov.Reg(asm.R3, asm.R6),
				asm.FnProbeReadKernel.Call())
		}
		return ins
	}
	directReads := func(n int) asm.Instructions {
		var ins asm.Instructions
		for i := 0; i < n; i++ {
			ins = append(ins, asm.LoadMem(asm.R7, asm.R6, lenOff, asm.Word))
		}
		return ins
	}
	// lookup of the all-zero flow key, then two atomic adds into the value
	// (what count_parsed does per packet: packets[st] and bytes[st]).
	lookup := func(m *ebpf.Map, label string) asm.Instructions {
		ins := asm.Instructions{}
		for off := int16(-48); off < -48+flowKeySize; off += 4 {
			ins = append(ins, asm.StoreImm(asm.R10, off, 0, asm.Word))
		}
		ins = append(ins,
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, -48),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, label),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R1, 64),
			func() asm.Instruction { i := asm.StoreXAdd(asm.R0, asm.R1, asm.DWord); i.Offset = 96; return i }(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol(label),
		)
		return ins
	}
	arrayAdds := func(atomic bool, label string) asm.Instructions {
		ins := asm.Instructions{
			asm.StoreImm(asm.R10, -4, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, arr.FD()),
			asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, label),
			asm.Mov.Imm(asm.R1, 1),
		}
		for i := int16(0); i < 4; i++ {
			if atomic {
				x := asm.StoreXAdd(asm.R0, asm.R1, asm.DWord)
				x.Offset = i * 8
				ins = append(ins, x)
			} else {
				ins = append(ins, asm.LoadMem(asm.R2, asm.R0, i*8, asm.DWord), asm.Add.Reg(asm.R2, asm.R1),
					asm.StoreMem(asm.R0, i*8, asm.R2, asm.DWord))
			}
		}
		ins = append(ins, asm.Mov.Imm(asm.R0, 0).WithSymbol(label))
		return ins
	}
	// The per-CPU skb cache a stage would consult instead of the flows
	// map (BENCHMARKS.md, "Why the missed targets are missed"): the skb's
	// address as a number (ptr_addr: store the pointer in a per-CPU word,
	// load it back; dropspot's fallback for a raced word is left out), its
	// slot (address >> 8) % 64 in a PERCPU_ARRAY, the identity check
	// (address and skb->len), then the stage's bit on a hit or the slot
	// taken over on a miss. Two programs in a row on the hook: the first
	// stands for a packet's first stage (it takes the slot over, or hits
	// when the flood reuses a freed skb of the same length), the second
	// for its later stages (always a hit: same skb, same length).
	scratch, err := ebpf.NewMap(&ebpf.MapSpec{Name: "c_scratch", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return err
	}
	defer scratch.Close()
	cache, err := ebpf.NewMap(&ebpf.MapSpec{Name: "c_skbcache", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 24, MaxEntries: 64})
	if err != nil {
		return err
	}
	defer cache.Close()
	// stage bits as in bpf/lib/stages.h
	const txQueueBit, txXmitBit = 1 << 9, 1 << 10
	skbCacheProbe := func(stageBit int64) asm.Instructions {
		return asm.Instructions{
			asm.StoreImm(asm.R10, -4, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, scratch.FD()),
			asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "cache_out"),
			asm.StoreMem(asm.R0, 0, asm.R6, asm.DWord),
			asm.LoadMem(asm.R7, asm.R0, 0, asm.DWord),
			asm.Mov.Reg(asm.R8, asm.R7), asm.RSh.Imm(asm.R8, 8), asm.And.Imm(asm.R8, 63),
			asm.StoreMem(asm.R10, -8, asm.R8, asm.Word),
			asm.LoadMapPtr(asm.R1, cache.FD()),
			asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, -8),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "cache_out"),
			asm.LoadMem(asm.R9, asm.R6, lenOff, asm.Word),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.JNE.Reg(asm.R1, asm.R7, "cache_miss"),
			asm.LoadMem(asm.R1, asm.R0, 8, asm.Word),
			asm.JNE.Reg(asm.R1, asm.R9, "cache_miss"),
			asm.LoadMem(asm.R1, asm.R0, 16, asm.DWord),
			asm.Or.Imm(asm.R1, int32(stageBit)),
			asm.StoreMem(asm.R0, 16, asm.R1, asm.DWord),
			asm.Ja.Label("cache_out"),
			asm.StoreMem(asm.R0, 0, asm.R7, asm.DWord).WithSymbol("cache_miss"),
			asm.StoreMem(asm.R0, 8, asm.R9, asm.Word),
			asm.Mov.Imm(asm.R1, int32(stageBit)),
			asm.StoreMem(asm.R0, 16, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("cache_out"),
		}
	}
	comps := []component{
		{"empty (attached first)", "c_empty_first", nil},
		{"bpf_probe_read_kernel ×1 (4 B of the skb)", "c_probe1", probeReads(1)},
		{"bpf_probe_read_kernel ×16", "c_probe16", probeReads(16)},
		{"direct BTF load of skb->len ×16", "c_direct16", directReads(16)},
		{"LRU_HASH lookup (44 B key, hit) + 2 atomic adds", "c_lru", lookup(lru, "lru_out")},
		{"HASH lookup (44 B key, hit) + 2 atomic adds", "c_hash", lookup(hash, "hash_out")},
		{"PERCPU_ARRAY lookup + 4 atomic adds", "c_arr_atomic", arrayAdds(true, "arr_a_out")},
		{"PERCPU_ARRAY lookup + 4 plain adds", "c_arr_plain", arrayAdds(false, "arr_p_out")},
		{"per-CPU skb cache probe, a packet's first stage (takes the slot over)", "c_skbcache_1st", skbCacheProbe(txQueueBit)},
		{"per-CPU skb cache probe, a later stage (hit: sets its bit)", "c_skbcache_hit", skbCacheProbe(txXmitBit)},
		{"empty (attached last)", "c_empty_last", nil},
	}
	var links []link.Link
	defer func() {
		for _, l := range links {
			l.Close()
		}
	}()
	for _, c := range comps {
		ins := asm.Instructions{asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord)}
		ins = append(ins, c.body...)
		ins = append(ins, asm.Mov.Imm(asm.R0, 0), asm.Return())
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: c.name, Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: *hook,
			Instructions: ins, License: "GPL",
		})
		if err != nil {
			return fmt.Errorf("load %s: %w", c.name, err)
		}
		defer prog.Close()
		l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return fmt.Errorf("attach %s: %w", c.name, err)
		}
		links = append(links, l)
		info, err := prog.Info()
		if err != nil {
			return err
		}
		id, _ := info.ID()
		fmt.Printf("prog %d %s\n", id, c.label)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	fmt.Println("ready")
	<-sig
	return nil
}
