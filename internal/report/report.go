// Package report turns a flow-table snapshot into what users read: the
// JSON document, the text report and the live view. Loss analysis lives
// here too: which stages a flow direction passed and where it lost most.
package report

import (
	"cmp"
	"slices"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/stage"
)

// Report is the final (or current) state of a run. Field names are a
// contract: add fields freely, never rename.
type Report struct {
	Flows    []Flow   `json:"flows"`
	Hooks    []Hook   `json:"hooks"`
	Overflow Overflow `json:"overflow"`
	// FlowTableEntries is how many flow directions the table held (Flows
	// also has directions known only from their drops).
	FlowTableEntries int                   `json:"flow_table_entries"`
	Totals           map[string]StageTotal `json:"totals"`
	// NetnsHooked is how many network namespaces the per-namespace
	// (netfilter) hooks covered at the end.
	NetnsHooked     int     `json:"netns_hooked"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// Flow is one direction (src -> dst) of a connection in one namespace.
// Stages holds every hooked stage, zeros included; a stage the plan could
// not hook is absent.
type Flow struct {
	Conn   int               `json:"conn"`
	Proto  string            `json:"proto"`
	Src    string            `json:"src"`
	Sport  uint16            `json:"sport"`
	Dst    string            `json:"dst"`
	Dport  uint16            `json:"dport"`
	Netns  uint32            `json:"netns"`
	Path   string            `json:"path"`
	Stages map[string]uint64 `json:"stages"`
	Bytes  map[string]uint64 `json:"bytes"`
	Drops  []Drop            `json:"drops"`
	// Losses lists every decrease along the path with the drops that
	// explain it, then drops that explain no decrease.
	Losses []Loss `json:"losses"`
	// Lost is the largest of Losses, if any.
	Lost *Loss `json:"lost,omitempty"`

	key    flow.Key
	counts *flow.Counts
	path   []stage.Stage
}

// Drop is a kernel drop of a flow's packets: why (reason), after which
// stage, where in the code, how many.
type Drop struct {
	Reason   string `json:"reason"`
	Stage    string `json:"stage"` // last stage passed; "unknown" if none saw it
	Location string `json:"location"`
	Count    uint64 `json:"count"`
	Ifindex  uint32 `json:"ifindex,omitempty"` // device when freed, in the flow's namespace
	// KernelReason is what the kernel said when Reason was derived from
	// the location instead ("NOT_SPECIFIED", or "none" before 5.17).
	KernelReason string `json:"kernel_reason,omitempty"`
	Explanation  string `json:"explanation,omitempty"`
	// Netfilter, for firewall drops: the netfilter hook(s) the drop's
	// stage leaves possible, and what cannot be known.
	Netfilter string `json:"netfilter,omitempty"`
}

// Loss is packets that passed From but not To, the next hooked stage of
// the path (To is empty for drops after the path's last stage or where
// no stage saw the packet). Unexplained is what no drop accounts for:
// the sum of Drops' counts (capped at Packets) + Unexplained = Packets.
type Loss struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Packets     uint64 `json:"packets"`
	Drops       []Drop `json:"drops,omitempty"`
	Unexplained uint64 `json:"unexplained"`
}

// UnparsedDrop is drops of packets that parsed into no flow.
type UnparsedDrop struct {
	Kind     string `json:"kind"` // "not_ip" or "malformed"
	Reason   string `json:"reason"`
	Location string `json:"location"`
	Count    uint64 `json:"count"`
}

// Hook is the hook chosen for a stage.
type Hook struct {
	Stage string `json:"stage"`
	Hook  string `json:"hook"`
}

// Overflow says what the tables could not hold: every count is exact or
// its loss is here.
type Overflow struct {
	EvictedFlows     uint64 `json:"evicted_flows"`
	Unparsed         uint64 `json:"unparsed"` // most malformed IP packets any one stage saw
	FlowCreateFailed uint64 `json:"flow_create_failed"`
	TxDoneUnmatched  uint64 `json:"tx_done_unmatched"`
	DropsUnrecorded  uint64 `json:"drops_unrecorded"`
	DropsEvicted     uint64 `json:"drops_evicted"` // drop entries pushed out of the full drop table
	EventsLost       uint64 `json:"events_lost"`
	EventsThrottled  uint64 `json:"events_throttled"`
	FlowsCreated     uint64 `json:"flows_created"`
	// UnparsedDrops are drops of packets that are in no flow.
	UnparsedDrops []UnparsedDrop `json:"unparsed_drops"`
}

// StageTotal is everything one stage counted, in flows or not.
type StageTotal struct {
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
	Filtered  uint64 `json:"filtered"`
	NotIP     uint64 `json:"not_ip"`
	Malformed uint64 `json:"malformed"`
}

// Build makes a report from a snapshot and the stages the plan hooked.
func Build(snap *flow.Snapshot, hooks []hookplan.Hook, names Namer) *Report {
	hooked := map[stage.Stage]bool{}
	r := &Report{Flows: []Flow{}, Hooks: []Hook{}, Totals: map[string]StageTotal{}}
	for _, h := range hooks {
		hooked[h.Stage] = true
		r.Hooks = append(r.Hooks, Hook{Stage: h.Stage.String(), Hook: h.Name})
	}
	for _, s := range stage.All() {
		if !hooked[s] {
			continue
		}
		t := snap.Totals[s]
		r.Totals[s.String()] = StageTotal(t)
		r.Overflow.Unparsed = max(r.Overflow.Unparsed, t.Malformed)
	}
	o := snap.Overflow
	r.Overflow.EvictedFlows = o.FlowsEvicted
	r.Overflow.FlowCreateFailed = o.FlowCreateFailed
	r.Overflow.TxDoneUnmatched = o.TxDoneUnmatched
	r.Overflow.DropsUnrecorded = o.DropsUnrecorded
	r.Overflow.DropsEvicted = o.DropsEvicted
	r.Overflow.FlowsCreated = o.FlowsCreated
	r.Overflow.EventsLost = o.EventsLost
	r.Overflow.EventsThrottled = o.EventsThrottled
	r.Overflow.UnparsedDrops = []UnparsedDrop{}

	// A flow may have drops and no counts (dropped before any stage, or
	// evicted): it still gets a record.
	flowDrops := map[flow.Key][]Drop{}
	for _, d := range snap.Drops {
		named := names.Name(d)
		if d.Kind != flow.DropOfFlow {
			kind := "not_ip"
			if d.Kind == flow.DropMalformedIP {
				kind = "malformed"
			}
			r.Overflow.UnparsedDrops = append(r.Overflow.UnparsedDrops,
				UnparsedDrop{Kind: kind, Reason: named.Reason, Location: named.Location, Count: named.Count})
			continue
		}
		flowDrops[d.Flow] = append(flowDrops[d.Flow], named)
	}
	r.FlowTableEntries = len(snap.Flows)
	for key := range flowDrops {
		if _, ok := snap.Flows[key]; !ok {
			snap.Flows[key] = &flow.Counts{}
		}
	}
	for key, counts := range snap.Flows {
		r.Flows = append(r.Flows, newFlow(key, counts, hooked, mergeDrops(flowDrops[key])))
	}
	sortFlows(r.Flows)
	numberConns(r.Flows)
	return r
}

func newFlow(key flow.Key, c *flow.Counts, hooked map[stage.Stage]bool, drops []Drop) Flow {
	f := Flow{
		Proto: flow.ProtoName(key.Proto), Src: key.Src.String(), Sport: key.Sport,
		Dst: key.Dst.String(), Dport: key.Dport, Netns: key.Netns,
		Stages: map[string]uint64{}, Bytes: map[string]uint64{}, Drops: drops,
		key: key, counts: c,
	}
	if f.Drops == nil {
		f.Drops = []Drop{}
	}
	for _, s := range stage.All() {
		if hooked[s] {
			f.Stages[s.String()] = c.Packets[s]
			f.Bytes[s.String()] = c.Bytes[s]
		}
	}
	var name string
	name, f.path = pathOf(key.Proto, c, hooked)
	f.Path = name
	f.Losses = analyse(f.path, c, f.Drops)
	for i := range f.Losses {
		if f.Lost == nil || f.Losses[i].Packets > f.Lost.Packets {
			f.Lost = &f.Losses[i]
		}
	}
	if f.Losses == nil {
		f.Losses = []Loss{}
	}
	return f
}

func (f *Flow) lost() uint64 {
	if f.Lost == nil {
		return 0
	}
	return f.Lost.Packets
}

func (f *Flow) packets() uint64 {
	var n uint64
	for _, v := range f.counts.Packets {
		n = max(n, v)
	}
	return n
}

// sortFlows puts the worst first: most lost, then busiest; ties by key so
// the order is stable from one refresh to the next.
func sortFlows(flows []Flow) {
	slices.SortFunc(flows, func(a, b Flow) int {
		if c := cmp.Compare(b.lost(), a.lost()); c != 0 {
			return c
		}
		if c := cmp.Compare(b.packets(), a.packets()); c != 0 {
			return c
		}
		return compareKeys(a.key, b.key)
	})
}

// compareKeys orders keys without formatting them: sorting a full table
// (65536 flows) by their text took seconds.
func compareKeys(a, b flow.Key) int {
	return cmp.Or(
		cmp.Compare(a.Netns, b.Netns),
		cmp.Compare(a.Proto, b.Proto),
		a.Src.Compare(b.Src),
		a.Dst.Compare(b.Dst),
		cmp.Compare(a.Sport, b.Sport),
		cmp.Compare(a.Dport, b.Dport),
	)
}

// numberConns gives both directions of a connection one id, in the order
// the connections first appear.
func numberConns(flows []Flow) {
	ids := map[flow.Key]int{}
	for i := range flows {
		c := flows[i].key.Conn()
		id, ok := ids[c]
		if !ok {
			id = len(ids) + 1
			ids[c] = id
		}
		flows[i].Conn = id
	}
}
