// Package tracer loads dropspot's BPF object, sizes and creates its maps,
// resolves the hook plan against the running kernel and reads the counts.
package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/dropspot/dropspot/internal/bpf"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/kallsyms"
	"github.com/dropspot/dropspot/internal/stage"
)

// DefaultMaxFlows is the flow table size when none is given; MaxFlows the
// largest allowed.
const (
	DefaultMaxFlows = 65536
	MaxFlows        = 1 << 24
)

// DefaultMaxTCPDrops is how many dropped TCP segments are remembered for
// matching to retransmissions when none is given (MaxFlows the most).
const DefaultMaxTCPDrops = 16384

// Config is what a run counts and how much memory it may use.
type Config struct {
	MaxFlows int // flow directions the table holds before evicting (LRU)
	// MaxTCPDrops is how many dropped TCP segments are remembered until a
	// retransmission (or redelivery) matches them (LRU; evictions counted).
	MaxTCPDrops int
	Filter      flow.Filter
	Skip        map[hookplan.Kind]bool
	// Stages are the stages to hook (0: all); the others' programs are
	// never loaded.
	Stages  stage.Set
	Log     *slog.Logger
	Symbols *kallsyms.Table // optional: read from /proc/kallsyms when nil
	// EventsRate enables the drop event stream: at most this many events
	// per second per CPU (the rest are counted as throttled).
	EventsRate  uint32
	EventsStack bool   // attach the kernel stack to each event
	Snaplen     uint32 // bytes of each dropped packet to put in its event
}

// MaxSnaplen is the longest packet capture an event can carry.
const MaxSnaplen = 1024

// Tracer is a loaded, attached dropspot.
type Tracer struct {
	Plan   *hookplan.Plan
	maps   *ebpf.Collection
	window *window
	cancel context.CancelFunc // ends the namespace news reader
	// missedAtOpen: the programs' skipped runs when the window opened.
	missedAtOpen map[stage.Stage]uint64
}

// ErrPrivilege says the caller lacks what loading BPF needs.
var ErrPrivilege = errors.New("not enough privilege: run as root, or with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_ADMIN (to enter namespaces)")

// Start loads the programs the plan chooses and attaches them.
func Start(cfg Config) (*Tracer, error) {
	if cfg.MaxFlows == 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.MaxFlows < 1 || cfg.MaxFlows > MaxFlows {
		return nil, fmt.Errorf("max flows %d out of range 1..%d", cfg.MaxFlows, MaxFlows)
	}
	if cfg.Stages == 0 {
		cfg.Stages = stage.AllStages
	}
	if cfg.MaxTCPDrops == 0 {
		cfg.MaxTCPDrops = DefaultMaxTCPDrops
	}
	if cfg.MaxTCPDrops < 1 || cfg.MaxTCPDrops > MaxFlows {
		return nil, fmt.Errorf("max tcp drops %d out of range 1..%d", cfg.MaxTCPDrops, MaxFlows)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, privilegeError(err)
	}
	spec, err := bpf.LoadDropspot()
	if err != nil {
		return nil, fmt.Errorf("read BPF object: %w", err)
	}
	spec.Maps[bpf.DropspotMapFlows].MaxEntries = uint32(cfg.MaxFlows)
	spec.Maps[bpf.DropspotMapBridged].MaxEntries = uint32(cfg.MaxFlows)
	// Four entries per translated connection, two flows: half as many
	// translated connections as the flow table holds connections.
	spec.Maps[bpf.DropspotMapNatTuples].MaxEntries = uint32(cfg.MaxFlows)
	spec.Maps[bpf.DropspotMapTcpLoss].MaxEntries = uint32(cfg.MaxFlows)
	spec.Maps[bpf.DropspotMapTcpFirstSent].MaxEntries = uint32(cfg.MaxFlows)
	spec.Maps[bpf.DropspotMapTcpRxPending].MaxEntries = uint32(cfg.MaxFlows)
	spec.Maps[bpf.DropspotMapTcpDropped].MaxEntries = uint32(cfg.MaxTCPDrops)
	bpfCfg := cfg.Filter.Config()
	bpfCfg.EventsRate = cfg.EventsRate
	if cfg.EventsStack {
		bpfCfg.EventsStack = 1
	}
	if cfg.Snaplen > MaxSnaplen {
		return nil, fmt.Errorf("snaplen %d: at most %d", cfg.Snaplen, MaxSnaplen)
	}
	bpfCfg.Snaplen = cfg.Snaplen
	if cfg.Stages.Has(stage.TCPRetransmit) {
		// Without the retransmission hook, nothing would read what the
		// drop, tx.queue and l4.rcv programs record for it.
		bpfCfg.TcpLoss = 1
	}
	if err := spec.Variables["CFG"].Set(bpfCfg); err != nil {
		return nil, fmt.Errorf("set filter: %w", err)
	}

	// Create every map once; each program is then loaded against them.
	mapsOnly := spec.Copy()
	mapsOnly.Programs = nil
	maps, err := ebpf.NewCollection(mapsOnly)
	if err != nil {
		return nil, privilegeError(fmt.Errorf("create maps: %w", err))
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	plan, err := hookplan.Resolve(spec, maps.Maps, hookplan.Options{Skip: cfg.Skip, Log: cfg.Log, Symbols: cfg.Symbols,
		OnNetns: netnsState(maps.Maps[bpf.DropspotMapNetnsStates], log), Netns: cfg.Filter.Netns, Stages: cfg.Stages})
	if err != nil {
		maps.Close()
		return nil, privilegeError(err)
	}
	t := &Tracer{Plan: plan, maps: maps, window: newWindow(maps.Maps[bpf.DropspotMapCountingWindow])}
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	go t.watchNetnsNews(ctx)
	// Every hook is attached: from now on a packet's path is counted
	// whole or not at all.
	if t.missedAtOpen, err = plan.RunsMissed(); err == nil {
		err = t.window.open(plan.PerNetns())
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Watch keeps per-namespace hooks current until ctx ends.
func (t *Tracer) Watch(ctx context.Context) { t.Plan.Watch(ctx) }

// rereadWait is how long Snapshot lets packets that were between two
// stages pass on before it reads the uneven flows again.
const rereadWait = 5 * time.Millisecond

// Snapshot reads the counts so far, with the packets on their way at that
// moment (read before and after the counts, so that a packet moving
// meanwhile is seen at the stage it was at when its flow was read).
func (t *Tracer) Snapshot() (*flow.Snapshot, error) {
	paths := t.maps.Maps[bpf.DropspotMapSkbPaths]
	generation, err := t.window.generation()
	if err != nil {
		return nil, err
	}
	before, err := flow.ReadInFlight(paths, generation)
	if err != nil {
		return nil, err
	}
	s, err := flow.Read(flow.Maps{
		Flows:      t.maps.Maps[bpf.DropspotMapFlows],
		Drops:      t.maps.Maps[bpf.DropspotMapDrops],
		Totals:     t.maps.Maps[bpf.DropspotMapTotals],
		Counters:   t.maps.Maps[bpf.DropspotMapCounters],
		Bridged:    t.maps.Maps[bpf.DropspotMapBridged],
		NAT:        t.maps.Maps[bpf.DropspotMapNatTuples],
		TCPLoss:    t.maps.Maps[bpf.DropspotMapTcpLoss],
		TCPDropped: t.maps.Maps[bpf.DropspotMapTcpDropped],
	})
	if err != nil {
		return nil, err
	}
	after, err := flow.ReadInFlight(paths, generation)
	if err != nil {
		return nil, err
	}
	s.InFlight = before.Merge(after)
	missed, err := t.Plan.RunsMissed()
	if err != nil {
		return nil, err
	}
	putRunsMissed(s, missed, t.missedAtOpen)
	if s.Later, err = flow.ReadLater(t.maps.Maps[bpf.DropspotMapFlows], s.Flows, rereadWait); err != nil {
		return nil, err
	}
	return s, nil
}

// putRunsMissed puts the runs each hook's programs missed since the
// window opened (now less atOpen) into the snapshot: an upper bound, as a
// run missed while the window closes may have been outside it.
func putRunsMissed(s *flow.Snapshot, now, atOpen map[stage.Stage]uint64) {
	for st, n := range now {
		n -= atOpen[st]
		switch {
		case st < stage.Count:
			s.Totals[st].RunsMissed = n
		case st == stage.Drops:
			s.Overflow.DropRunsMissed = n
		case st == stage.TCPRetransmit:
			s.Overflow.RetransmitRunsMissed = n
		}
	}
}

// Hooks is the hook plan's choice per stage.
func (t *Tracer) Hooks() []hookplan.Hook { return t.Plan.Hooks }

// NetnsHooked is how many namespaces the per-namespace hooks cover.
func (t *Tracer) NetnsHooked() int { return t.Plan.Namespaces() }

// Close detaches every program and frees the maps.
func (t *Tracer) Close() {
	t.window.close()
	t.cancel()
	t.Plan.Close()
	t.maps.Close()
}

func privilegeError(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w: %v", ErrPrivilege, err)
	}
	return err
}
