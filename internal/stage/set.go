package stage

import (
	"fmt"
	"slices"
	"strings"
)

// Set is a choice of stages, the drop hook (Drops) and the TCP
// retransmission hook (TCPRetransmit) included: what
// `--stages` selects. Only the chosen stages are loaded and attached.
type Set uint32

// SetOf makes a set of the given stages.
func SetOf(stages ...Stage) Set {
	var s Set
	for _, st := range stages {
		s = s.With(st)
	}
	return s
}

// With returns the set with st added.
func (s Set) With(st Stage) Set { return s | 1<<uint(st) }

// Has reports whether st is chosen.
func (s Set) Has(st Stage) bool { return st >= 0 && st <= TCPRetransmit && s&(1<<uint(st)) != 0 }

// Stages lists the chosen stages in path order, then Drops and
// TCPRetransmit.
func (s Set) Stages() []Stage {
	var out []Stage
	for _, st := range hookable() {
		if s.Has(st) {
			out = append(out, st)
		}
	}
	return out
}

// String is the set as `--stages` takes it: its preset's name when it is
// one, else the stage names joined by commas.
func (s Set) String() string {
	for _, p := range presets {
		if p.set == s {
			return p.name
		}
	}
	names := make([]string, 0, Count+1)
	for _, st := range s.Stages() {
		names = append(names, st.String())
	}
	return strings.Join(names, ",")
}

// The presets. Seed is the original module's hook points; Serve is the
// always-on default of `serve`, chosen by measurement (BENCHMARKS.md,
// "Stage sets"): drops with reason and location, the packets a host
// received (rx.driver) and the packets it offered to a device (tx.queue:
// before the qdisc, whose drops then come after a counted stage; a
// GSO super-packet is one run, not one per segment; and where bridged
// frames are recognised). All tracepoints, so that on hosts without
// netfilter rules no netfilter hook is made to run for it.
var (
	AllStages = SetOf(hookable()...)
	Seed      = SetOf(RxDriver, RxCore, L4Rcv, Drops)
	Serve     = SetOf(RxDriver, TxQueue, Drops)
)

type preset struct {
	name string
	set  Set
}

var presets = []preset{{"all", AllStages}, {"seed", Seed}, {"serve", Serve}}

// ParseSet reads a `--stages` value: comma-separated stage names
// ("drops" for the drop hook) and presets (all, seed, serve), joined.
func ParseSet(list string) (Set, error) {
	var s Set
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if i := slices.IndexFunc(presets, func(p preset) bool { return p.name == name }); i >= 0 {
			s |= presets[i].set
			continue
		}
		st, err := parseHookable(name)
		if err != nil {
			return 0, err
		}
		s = s.With(st)
	}
	if s == 0 {
		return 0, fmt.Errorf("no stage chosen: %s", Valid())
	}
	return s, nil
}

// parseHookable is Parse with "drops" accepted, and an error that lists
// what is.
func parseHookable(name string) (Stage, error) {
	for _, st := range []Stage{Drops, TCPRetransmit} {
		if name == st.String() {
			return st, nil
		}
	}
	st, err := Parse(name)
	if err != nil {
		return 0, fmt.Errorf("unknown stage %q: %s", name, Valid())
	}
	return st, nil
}

// Valid says what `--stages` accepts.
func Valid() string {
	var ps, ss []string
	for _, p := range presets {
		ps = append(ps, p.name)
	}
	for _, st := range hookable() {
		ss = append(ss, st.String())
	}
	return "want presets (" + strings.Join(ps, ", ") + ") or stage names (" + strings.Join(ss, ", ") + "), comma-separated"
}

// hookable is every stage --stages can name, in path order, then the drop
// hook and the TCP retransmission hook.
func hookable() []Stage { return append(All(), Drops, TCPRetransmit) }
