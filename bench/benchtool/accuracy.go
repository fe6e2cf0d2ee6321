package main

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/stage"
)

// The throughput phase's accuracy check: the UDP flood flow's per-stage
// counts in dropspot's report against the datagrams sent.

type Accuracy struct {
	Rep          int               `json:"rep"`
	Host         string            `json:"host,omitempty"` // "" = bare (hostshape.go)
	Sent         uint64            `json:"sent"`
	Received     uint64            `json:"received_by_socket_reader"`
	Stages       map[string]uint64 `json:"stages"`
	Missing      map[string]int64  `json:"missing"`
	FlowDrops    uint64            `json:"flow_drops"`
	DropReasons  map[string]uint64 `json:"drop_reasons"`
	Overflow     map[string]uint64 `json:"overflow"`
	OverflowLoss uint64            `json:"overflow_loss"`
	Verdict      string            `json:"verdict"`
}

// pathStages are the stages a datagram from A to B passes, in its order:
// out of A (ip.local_out … tx.done), into B (rx.driver … sock.rcv); not
// ip.forward.
var pathStages = func() []string {
	var names []string
	for _, s := range append(stage.All()[stage.IPLocalOut:], stage.All()[:stage.IPForward]...) {
		names = append(names, s.String())
	}
	return names
}()

// readReport reads a dropspot JSON report from a file.
func readReport(path string) (*report.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return report.ReadJSON(f)
}

// overflowCounters are the report's numeric overflow counters by their
// JSON names, as results.json keeps them (unparsed_drops, a list, is not
// one).
func overflowCounters(o report.Overflow) map[string]uint64 {
	c := map[string]uint64{}
	v := reflect.ValueOf(o)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			c[name] = f.Uint()
		}
	}
	return c
}

// accuracy compares the flood flow's per-stage counts with the datagrams
// the sender's kernel accepted. Only records in the benchmark's own
// namespaces (netns inodes) count: the host may carry other traffic.
func accuracy(path string, u udpRunResult, rep int, netns []uint32) (Accuracy, error) {
	a := Accuracy{Rep: rep, Sent: u.Send.Sent, Received: u.Recv.Received, Stages: map[string]uint64{},
		Missing: map[string]int64{}, DropReasons: map[string]uint64{}, Overflow: map[string]uint64{}}
	r, err := readReport(path)
	if err != nil {
		return a, err
	}
	dport, _ := strconv.Atoi(udpPort)
	found := 0
	for _, f := range r.Flows {
		if f.Proto != "udp" || f.Src != addrA || f.Dst != addrB || int(f.Sport) != u.Send.Sport || int(f.Dport) != dport ||
			!slices.Contains(netns, f.Netns) {
			continue
		}
		found++
		for st, n := range f.Stages {
			a.Stages[st] += n
		}
		for _, d := range f.Drops {
			a.FlowDrops += d.Count
			a.DropReasons[d.Reason+"@"+d.Stage] += d.Count
		}
	}
	a.Overflow = overflowCounters(r.Overflow)
	// the packets the report could not put in a flow
	o := r.Overflow
	a.OverflowLoss = o.EvictedFlows + o.FlowCreateFailed + o.DropsUnrecorded + o.TxDoneUnmatched + o.Unparsed
	if found == 0 {
		a.Verdict = "FLOW NOT FOUND"
		return a, nil
	}
	exact, accounted, compared := true, true, 0
	for _, st := range pathStages {
		n, ok := a.Stages[st]
		if !ok {
			continue // stage not hooked on this kernel
		}
		compared++
		miss := int64(a.Sent) - int64(n)
		a.Missing[st] = miss
		if miss != 0 {
			exact = false
		}
		if miss < 0 || uint64(miss) > a.FlowDrops+a.OverflowLoss {
			accounted = false
		}
	}
	switch {
	case compared == 0:
		a.Verdict = "NO PATH STAGE IN REPORT"
	case exact:
		a.Verdict = "exact"
	case accounted:
		a.Verdict = "accounted (drops/overflow cover every missing count)"
	default:
		a.Verdict = "UNACCOUNTED"
	}
	return a, nil
}

func (r *Results) accuracyMarkdown(p printer) {
	if len(r.Accuracy) == 0 {
		return
	}
	p("## Counting accuracy during the UDP flood (dropspot runs above)\n\n")
	p("| rep | datagrams sent | read by receiver | per-stage counts of the flood flow (sent − count) | drops on the flow | overflow loss counters | verdict |\n|---|---|---|---|---|---|---|\n")
	for _, a := range r.Accuracy {
		var miss []string
		for _, st := range pathStages {
			if v, ok := a.Missing[st]; ok {
				miss = append(miss, fmt.Sprintf("%s %d", st, v))
			}
		}
		var reasons []string
		for k, v := range a.DropReasons {
			reasons = append(reasons, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(reasons)
		rep := strconv.Itoa(a.Rep)
		if a.Host != "" {
			rep += " " + a.Host
		}
		p("| %s | %d | %d | %s | %d %s | %d | %s |\n", rep, a.Sent, a.Received, strings.Join(miss, ", "), a.FlowDrops, strings.Join(reasons, ", "), a.OverflowLoss, a.Verdict)
	}
}
