package report

import (
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/stage"
)

// Build makes a report from a snapshot and the stages the plan hooked.
// The report's flows point to the snapshot's counts.
func Build(snap *flow.Snapshot, hooks []hookplan.Hook, names Namer) *Report {
	names = names.ForPlan(hooks)
	var hooked stageSet
	r := &Report{Hooks: make([]Hook, 0, len(hooks)), Totals: map[string]StageTotal{}}
	for _, h := range hooks {
		hooked.add(h.Stage)
		r.Hooks = append(r.Hooks, Hook{Stage: h.Stage.String(), Hook: h.Name})
	}
	for s := range stage.Count {
		if !hooked.has(s) {
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
	r.Overflow.InFlightAtStart = o.InFlightAtStart
	r.Overflow.NetnsUnhooked = o.NetnsUnhooked
	r.Overflow.DropsOutsideWindow = o.DropsOutsideWindow
	r.Overflow.NetnsNewsLost = o.NetnsNewsLost
	r.Overflow.NATSplit = o.NATSplit
	r.Overflow.TCPDropsUnrecorded = o.TCPDropsUnrecorded
	r.Overflow.TCPDropsEvicted = o.TCPDropsEvicted
	r.Overflow.TCPLossUnrecorded = o.TCPLossUnrecorded
	r.Overflow.TCPLossEvicted = o.TCPLossEvicted
	r.Overflow.DropRunsMissed = o.DropRunsMissed
	r.Overflow.RetransmitRunsMissed = o.RetransmitRunsMissed
	r.Overflow.UnparsedDrops = []UnparsedDrop{}

	flowDrops := map[flow.Key][]Drop{}
	for _, d := range snap.Drops {
		named := names.Name(d)
		if d.Kind != flow.DropOfFlow {
			kind := "not_ip"
			if d.Kind == flow.DropMalformedIP {
				kind = "malformed"
			}
			r.Overflow.UnparsedDrops = append(r.Overflow.UnparsedDrops,
				UnparsedDrop{Kind: kind, Reason: named.Reason, Location: named.Location, Count: named.Count,
					Explanation: named.Explanation})
			continue
		}
		flowDrops[d.Flow] = append(flowDrops[d.Flow], named)
	}
	r.FlowTableEntries = len(snap.Flows)
	r.Flows = buildFlows(snap.Flows, flowDrops, names.bridges(snap.Bridged), names.tcpLosses(snap.TCP), hooked,
		snap.InFlight, snap.Later)
	setNAT(r.Flows, snap.NAT)
	for i := range r.Flows {
		r.Overflow.InFlight += r.Flows[i].InFlight
	}
	return r
}
