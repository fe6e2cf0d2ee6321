package flow

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/dropspot/dropspot/internal/bpf"
	"github.com/dropspot/dropspot/internal/stage"
)

// Counts are one flow direction's packets and bytes per stage. Bytes are
// IP bytes; a GSO/GRO super-packet counts as its wire segments.
type Counts struct {
	Packets [stage.Count]uint64
	Bytes   [stage.Count]uint64
}

// StageTotals is everything a stage saw, flow or not.
type StageTotals struct {
	Packets   uint64 // IP packets that passed the filter
	Bytes     uint64
	Filtered  uint64 // IP packets the filter rejected
	NotIP     uint64 // ARP and other non-IP frames
	Malformed uint64 // frames claiming IP that did not parse
	// RunsMissed: runs of the stage's hook the kernel skipped (recursion,
	// hookplan.Plan.RunsMissed) in the window: packets it did not see.
	RunsMissed uint64
}

// Overflow counts what the flow table could not hold or match.
type Overflow struct {
	FlowsCreated     uint64 // flow entries made this run
	FlowsEvicted     uint64 // made but pushed out of the full table (LRU)
	FlowCreateFailed uint64 // packets counted in stage totals but in no flow
	TxDoneUnmatched  uint64 // driver verdicts for skbs whose start_xmit was not seen
	DropsUnrecorded  uint64 // drops whose entry could not be stored
	DropsEvicted     uint64 // drop entries pushed out of the full drop table (LRU)
	EventsLost       uint64 // drop events the ring buffer had no room for
	EventsThrottled  uint64 // drop events over the rate limit
	// The counting window (bpf/lib/window.h): packets not counted at all
	// because their path through a namespace began before the window
	// opened, or before the namespace's hooks were all attached; drops of
	// such packets; namespaces the kernel could not report at once.
	InFlightAtStart    uint64
	NetnsUnhooked      uint64
	DropsOutsideWindow uint64
	NetnsNewsLost      uint64
	// NATSplit: packets of a translated connection that stages before
	// conntrack counted under their own tuple (the way back was not
	// known: pushed out of the full table, or the entry was remade).
	NATSplit uint64
	// TCP loss (TCPLoss): dropped segments with no entry (table refused
	// them) or whose entry was pushed out before a retransmission or
	// redelivery could match it; retransmitted or redelivered segments
	// whose connection entry could not be stored, or was pushed out.
	TCPDropsUnrecorded uint64
	TCPDropsEvicted    uint64
	TCPLossUnrecorded  uint64
	TCPLossEvicted     uint64
	// Runs the kernel skipped (recursion) of the drop hook (drops neither
	// counted nor explained) and of the retransmission hook.
	DropRunsMissed       uint64
	RetransmitRunsMissed uint64
}

// Snapshot is the state of the maps at one moment.
type Snapshot struct {
	Flows    map[Key]*Counts
	Bridged  map[Key]BridgePorts // flows a Linux bridge forwarded
	NAT      map[Key]NAT         // translated flows, by their connection's key
	TCP      map[Key]TCPLoss     // TCP connection directions that retransmitted or received again
	Drops    []Drop
	Totals   [stage.Count]StageTotals
	Overflow Overflow
	InFlight InFlight // nil when not read (a restored report)
	// Later are the uneven flows read again a moment later (ReadLater);
	// nil when not read.
	Later map[Key]*Counts
}

// Maps are the BPF maps a snapshot is read from.
type Maps struct {
	Flows, Drops, Totals, Counters *ebpf.Map
	Bridged, NAT                   *ebpf.Map
	TCPLoss, TCPDropped            *ebpf.Map // nil: not read (tests of other tables)
}

// flowBatch is how many flow entries one BPF_MAP_LOOKUP_BATCH call reads:
// big enough that a 10^6-flow table takes a few hundred syscalls.
const flowBatch = 4096

// Read reads the maps into a snapshot, summing the per-CPU ones.
func Read(m Maps) (*Snapshot, error) {
	s := &Snapshot{}
	var err error
	if s.Flows, err = readFlows(m.Flows); err != nil {
		return nil, fmt.Errorf("read flow table: %w", err)
	}
	if s.Drops, err = readDrops(m.Drops); err != nil {
		return nil, err
	}
	if s.Bridged, err = readBridged(m.Bridged); err != nil {
		return nil, err
	}
	if s.NAT, err = readNAT(m.NAT); err != nil {
		return nil, err
	}
	var tcpDropped uint64
	if m.TCPLoss != nil {
		if s.TCP, err = readTCPLoss(m.TCPLoss); err != nil {
			return nil, err
		}
		if tcpDropped, err = countEntries(m.TCPDropped); err != nil {
			return nil, err
		}
	}

	var totals []bpf.DropspotStageTotals
	for i := range stage.Count {
		if err := m.Totals.Lookup(uint32(i), &totals); err != nil {
			return nil, fmt.Errorf("read stage totals: %w", err)
		}
		for _, t := range totals {
			st := &s.Totals[i]
			st.Packets += t.Packets
			st.Bytes += t.Bytes
			st.Filtered += t.Filtered
			st.NotIP += t.NotIp
			st.Malformed += t.Malformed
		}
	}

	var counters [bpf.DropspotCounterNR_COUNTERS]uint64
	var per []uint64
	for i := range counters {
		if err := m.Counters.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("read counters: %w", err)
		}
		for _, v := range per {
			counters[i] += v
		}
	}
	s.Overflow = Overflow{
		FlowsCreated:     counters[bpf.DropspotCounterCOUNTER_FLOWS_CREATED],
		FlowCreateFailed: counters[bpf.DropspotCounterCOUNTER_FLOW_CREATE_FAILED],
		TxDoneUnmatched:  counters[bpf.DropspotCounterCOUNTER_TX_DONE_UNMATCHED],
		DropsUnrecorded:  counters[bpf.DropspotCounterCOUNTER_DROPS_UNRECORDED],
		EventsLost:       counters[bpf.DropspotCounterCOUNTER_EVENTS_LOST],
		EventsThrottled:  counters[bpf.DropspotCounterCOUNTER_EVENTS_THROTTLED],

		InFlightAtStart:    counters[bpf.DropspotCounterCOUNTER_IN_FLIGHT_AT_START],
		NetnsUnhooked:      counters[bpf.DropspotCounterCOUNTER_NETNS_UNHOOKED],
		DropsOutsideWindow: counters[bpf.DropspotCounterCOUNTER_DROPS_OUTSIDE_WINDOW],
		NetnsNewsLost:      counters[bpf.DropspotCounterCOUNTER_NETNS_NEWS_LOST],
		NATSplit:           counters[bpf.DropspotCounterCOUNTER_NAT_SPLIT],
		TCPDropsUnrecorded: counters[bpf.DropspotCounterCOUNTER_TCP_DROPPED_UNRECORDED],
		TCPLossUnrecorded:  counters[bpf.DropspotCounterCOUNTER_TCP_LOSS_UNRECORDED],
	}
	s.Overflow.TCPDropsEvicted = evicted(counters[bpf.DropspotCounterCOUNTER_TCP_DROPPED_CREATED],
		counters[bpf.DropspotCounterCOUNTER_TCP_DROPPED_MATCHED]+tcpDropped)
	s.Overflow.TCPLossEvicted = evicted(counters[bpf.DropspotCounterCOUNTER_TCP_LOSS_CREATED], uint64(len(s.TCP)))
	s.Overflow.DropsEvicted = evicted(counters[bpf.DropspotCounterCOUNTER_DROP_ENTRIES_CREATED], uint64(len(s.Drops)))
	s.Overflow.FlowsEvicted = evicted(s.Overflow.FlowsCreated, uint64(len(s.Flows)))
	return s, nil
}

// evicted is how many of the entries made are gone without being read
// or removed on purpose (LRU evictions), if any.
func evicted(made, accounted uint64) uint64 {
	if made > accounted {
		return made - accounted
	}
	return 0
}

// readFlows reads the flow table in batches: one syscall per flowBatch
// entries (a key at a time took 4 s for 10^6 flows). Batch operations on
// hash maps exist since 5.6, before the tracepoints dropspot needs. Each
// batch is kept as read, and the Go map is made once the size is known:
// growing it, or one slice of all counts, through 10^6 entries copied
// hundreds of megabytes.
func readFlows(m *ebpf.Map) (map[Key]*Counts, error) {
	type batch struct {
		keys   []bpf.DropspotFlowKey
		counts []Counts
	}
	var (
		batches []batch
		total   int
		cursor  ebpf.MapBatchCursor
	)
	values := make([]bpf.DropspotFlowCounts, flowBatch) // copied out: one buffer serves every batch
	for {
		keys := make([]bpf.DropspotFlowKey, flowBatch)
		n, err := m.BatchLookup(&cursor, keys, values, nil)
		b := batch{keys: keys[:n], counts: make([]Counts, n)}
		for i, v := range values[:n] {
			b.counts[i] = Counts{Packets: v.Packets, Bytes: v.Bytes}
		}
		batches = append(batches, b)
		total += n
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	flows := make(map[Key]*Counts, total)
	for _, b := range batches {
		for i, k := range b.keys {
			flows[FromBPF(k)] = &b.counts[i]
		}
	}
	return flows, nil
}
