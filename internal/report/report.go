// Package report turns a flow-table snapshot into what users read: the
// JSON document, the text report and the live view. Loss analysis lives
// here too: which stages a flow direction passed and where it lost most.
package report

import (
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// Report is the final (or current) state of a run. Field names are a
// contract: add fields freely, never rename.
type Report struct {
	Flows []Flow `json:"flows"`
	Hooks []Hook `json:"hooks"`
	// Stages is what the run was asked to hook (`--stages`: a preset's
	// name or stage names); a stage outside it is in no count.
	Stages   string   `json:"stages,omitempty"`
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
type Flow struct {
	Conn  int    `json:"conn"`
	Proto string `json:"proto"`
	Src   string `json:"src"`
	Sport uint16 `json:"sport"`
	Dst   string `json:"dst"`
	Dport uint16 `json:"dport"`
	// ICMP names an ICMP flow's messages ("echo-request",
	// "port-unreachable"; flow.Key.ICMPName): the ports then hold the
	// echo identifier, or type and code.
	ICMP  string `json:"icmp,omitempty"`
	Netns uint32 `json:"netns"`
	Path  string `json:"path"`
	// Bridge is set on path "bridge".
	Bridge *Bridge `json:"bridge,omitempty"`
	// NAT is set when conntrack translated the flow's connection in its
	// namespace: the key is the connection as its originator sees it.
	NAT *NAT `json:"nat,omitempty"`
	// Stages and Bytes are packets and bytes per stage: every hooked
	// stage, zeros included; a stage the plan could not hook is absent.
	// The JSON is written from the flow's counts, not from these maps:
	// ReadJSON fills them, Build leaves them nil (a map is half a kilobyte
	// and four allocations per flow: half of Build's time at 10^6 flows).
	// StagePackets reads either.
	Stages map[string]uint64 `json:"stages"`
	Bytes  map[string]uint64 `json:"bytes"`
	Drops  []Drop            `json:"drops"`
	// Benign are frees the kernel counts as drops although they lose
	// nothing the user cares about (dropreason.BenignFree), out of Drops:
	// each with what it was and why nothing was lost (Explanation).
	Benign []Drop `json:"benign"`
	// Losses lists every decrease along the path with the drops that
	// explain it, then drops that explain no decrease. What benign frees
	// explain is no loss.
	Losses []Loss `json:"losses"`
	// Lost is the largest of Losses, if any.
	Lost *Loss `json:"lost,omitempty"`
	// InFlight is packets on their way between two stages when the counts
	// were read: left out of Losses.
	InFlight uint64 `json:"in_flight,omitempty"`
	// TCP is set on TCP flow directions that retransmitted (the sender's
	// record) or received segments again after a drop here (the
	// receiver's).
	TCP *TCP `json:"tcp,omitempty"`

	key    flow.Key
	counts *flow.Counts
	hooked stageSet // the stages of Stages and Bytes
	path   []stage.Stage
	// moving shows the flow's packets on their way when read (none for a
	// report read back from JSON).
	moving movement
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
	// NoPayload: the packets were TCP segments without data (bare FIN,
	// ACK or RST).
	NoPayload bool `json:"no_payload,omitempty"`
}

// Loss is packets that passed From but not To, the next hooked stage of
// the path (To is empty for drops after the path's last stage or where
// no stage saw the packet), less those benign frees after From account
// for. Unexplained is what no drop accounts for: the sum of Drops'
// counts (capped at Packets) + Unexplained = Packets.
type Loss struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Packets     uint64 `json:"packets"`
	Drops       []Drop `json:"drops,omitempty"`
	Unexplained uint64 `json:"unexplained"`
}

// UnparsedDrop is drops of packets that parsed into no flow.
type UnparsedDrop struct {
	Kind        string `json:"kind"` // "not_ip" or "malformed"
	Reason      string `json:"reason"`
	Location    string `json:"location"`
	Count       uint64 `json:"count"`
	Explanation string `json:"explanation,omitempty"`
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
	// The counting window (ARCHITECTURE.md): packets on their way between
	// stages when read (InFlight, left out of every loss), and packets not
	// counted at all because their path in a namespace began before the
	// window opened or before the namespace was hooked; drops of those.
	InFlight           uint64 `json:"in_flight"`
	InFlightAtStart    uint64 `json:"in_flight_at_start"`
	NetnsUnhooked      uint64 `json:"netns_unhooked"`
	DropsOutsideWindow uint64 `json:"drops_outside_window"`
	NetnsNewsLost      uint64 `json:"netns_news_lost"`
	// NATSplit is packets of a translated connection that stages before
	// conntrack counted under their translated tuple (ARCHITECTURE.md).
	NATSplit uint64 `json:"nat_split"`
	// TCP loss (Flow.TCP): dropped segments with no entry to match a
	// retransmission to (table refused, or pushed out first), and
	// retransmitted or redelivered segments in no flow's tcp object.
	TCPDropsUnrecorded uint64 `json:"tcp_drops_unrecorded"`
	TCPDropsEvicted    uint64 `json:"tcp_drops_evicted"`
	TCPLossUnrecorded  uint64 `json:"tcp_loss_unrecorded"`
	TCPLossEvicted     uint64 `json:"tcp_loss_evicted"`
	// Runs of the drop and the retransmission hooks the kernel skipped
	// (recursion): drops and retransmissions not counted.
	DropRunsMissed       uint64 `json:"drop_runs_missed"`
	RetransmitRunsMissed uint64 `json:"retransmit_runs_missed"`
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
	// RunsMissed: runs of the stage's hook the kernel skipped because the
	// program was already running on that CPU; packets not seen here.
	RunsMissed uint64 `json:"runs_missed"`
}

// DropTotals adds up the report's drops (of flows, and of packets in no
// flow) and, apart, its benign frees.
func (r *Report) DropTotals() (drops, benign uint64) {
	for i := range r.Flows {
		for _, d := range r.Flows[i].Drops {
			drops += d.Count
		}
		for _, d := range r.Flows[i].Benign {
			benign += d.Count
		}
	}
	for _, u := range r.Overflow.UnparsedDrops {
		drops += u.Count
	}
	return drops, benign
}
