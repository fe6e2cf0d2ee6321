package report

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/dropspot/dropspot/internal/dropreason"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/kallsyms"
	"github.com/dropspot/dropspot/internal/stage"
)

// Namer turns the kernel's numbers into names: reasons through the
// running kernel's BTF, locations through kallsyms. Either may be nil.
type Namer struct {
	Reasons *dropreason.Names
	Symbols *kallsyms.Table
	Links   Links // names the devices of bridged flows
	// atFunction are the stages the plan observes at a kernel function's
	// entry (ForPlan).
	atFunction stageSet
}

// ForPlan returns n for a run with these hooks. A drop whose stage BPF
// could not record gets it from the freeing function, and which stages a
// packet freed there has passed can depend on the hooks: a function hook
// on ip_forward runs before its TTL check, netfilter's FORWARD hook
// after. Build does this itself.
func (n Namer) ForPlan(hooks []hookplan.Hook) Namer {
	n.atFunction = 0
	for _, h := range hooks {
		if h.Kind == hookplan.Fentry || h.Kind == hookplan.Kprobe {
			n.atFunction.add(h.Stage)
		}
	}
	return n
}

// LoadNamer reads the running kernel's reason names (BTF) and symbols
// (kallsyms), and fails if either is missing: for checks that need the
// real names.
func LoadNamer() (Namer, error) {
	reasons, err := dropreason.Load()
	if err != nil {
		return Namer{}, err
	}
	syms, err := kallsyms.Load()
	return Namer{Reasons: reasons, Symbols: syms}, err
}

// Location names a kernel code address: "func+0xoff", or the address.
func (n Namer) Location(addr uint64) string {
	if n.Symbols == nil {
		return fmt.Sprintf("0x%x", addr)
	}
	return n.Symbols.Format(addr)
}

// Name names one flow.Drop: reason (classified by location when the
// kernel gave none), stage, location.
func (n Namer) Name(d flow.Drop) Drop {
	out := Drop{Count: d.Packets, Location: n.Location(d.Location), Ifindex: d.Ifindex, NoPayload: d.NoPayload}
	fn := ""
	if n.Symbols != nil {
		fn, _, _ = n.Symbols.Symbolize(d.Location)
	}
	if n.Reasons != nil {
		out.Reason = n.Reasons.Name(d.Reason)
	}
	byLoc, locStage, classified := dropreason.FromLocation(fn,
		dropreason.Context{V6: d.Flow.Src.Is6(), AtFunction: n.atFunction.has})
	if dropreason.Unspecified(out.Reason) && byLoc != "" {
		out.KernelReason = out.Reason
		if out.KernelReason == "" {
			out.KernelReason = "none"
		}
		out.Reason = byLoc
	}
	if out.Reason == "" {
		out.Reason = "UNKNOWN"
	}
	switch {
	case d.HasStage:
		out.Stage = d.Stage.String()
	case classified && locStage != stage.Drops:
		out.Stage = locStage.String()
	default:
		out.Stage = "unknown"
	}
	out.Explanation = dropreason.Explain(out.Reason)
	if out.Reason == "NETFILTER_DROP" {
		out.Netfilter = netfilterHook(out.Stage)
	}
	return out
}

// netfilterHook tells which netfilter hook a firewall drop happened in,
// from the last stage passed (the stages are netfilter hooks at first or
// last priority), and says plainly what is not observable.
func netfilterHook(st string) string {
	hook := map[string]string{
		"rx.core":        "PRE_ROUTING",
		"ip.rcv":         "PRE_ROUTING",
		"ip.local_in":    "LOCAL_IN",
		"ip.forward":     "FORWARD or POST_ROUTING",
		"ip.local_out":   "LOCAL_OUT or POST_ROUTING",
		"ip.postrouting": "POST_ROUTING",
	}[st]
	if hook == "" {
		hook = "unknown hook"
	}
	return hook + "; " + ruleUnobservable
}

// ruleUnobservable is what no hook of dropspot can tell of a firewall drop.
const ruleUnobservable = "table/chain/rule not observable without function tracing of the ruleset (nft_do_chain/ipt_do_table)"

// mergeDrops adds up drops that name the same (reason, stage, location)
// and puts the largest first.
func mergeDrops(in []Drop) []Drop {
	var out []Drop
	for _, d := range in {
		i := slices.IndexFunc(out, func(o Drop) bool {
			return o.Reason == d.Reason && o.Stage == d.Stage && o.Location == d.Location && o.Ifindex == d.Ifindex &&
				o.NoPayload == d.NoPayload
		})
		if i >= 0 {
			out[i].Count += d.Count
		} else {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Drop) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Location, b.Location),
			cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.Ifindex, b.Ifindex))
	})
	return out
}

// analyse lists every decrease along the flow's path with the drops that
// explain it (drops after the decrease's first stage), and the drops that
// explain no decrease (after the path's last stage, or where no stage saw
// the packet) as losses of their own. explained + unexplained = packets.
// Benign frees after a decrease's first stage take their part of it out:
// a decrease they explain whole is no loss.
func analyse(path []stage.Stage, c *flow.Counts, drops, benign []Drop, moving movement) ([]Loss, uint64) {
	used := make([]bool, len(drops))
	var out []Loss
	losses, inFlight := decreases(path, c, benign, moving)
	for _, d := range losses {
		var explained uint64
		for i, dr := range drops {
			if dr.Stage == d.From && !used[i] {
				used[i] = true
				d.Drops = append(d.Drops, dr)
				explained += dr.Count
			}
		}
		explained = min(explained, d.Packets)
		d.Unexplained = d.Packets - explained
		out = append(out, d)
	}
	for i, dr := range drops {
		if used[i] {
			continue
		}
		out = append(out, Loss{From: dr.Stage, Packets: dr.Count, Drops: []Drop{dr}})
	}
	return out, inFlight
}
