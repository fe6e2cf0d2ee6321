package tracer

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dropspot/dropspot/internal/metrics"
	"github.com/dropspot/dropspot/internal/testnet"
)

// TestScrapesOfAHealthyFlow: `serve` reads the maps while packets move
// between stages; a healthy flow running through a router must never be
// exported as losing packets, on any scrape.
func TestScrapesOfAHealthyFlow(t *testing.T) {
	testnet.RequirePrivileged(t)
	c := testnet.NewChain(t)
	l := newLiveFlow(t)
	liveUDP(t, l, func(fn func() error) error { return c.Do(testnet.NodeA, fn) },
		func(fn func() error) error { return c.Do(testnet.NodeB, fn) }, c.A4, c.B4)
	defer l.end(t)
	time.Sleep(liveBefore)
	tr := start(t, Config{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(tr, metrics.Options{TopFlows: 1000}))
	ours := map[string]bool{}
	for _, ns := range []uint32{c.InodeA, c.InodeR, c.InodeB} {
		ours[strconv.FormatUint(uint64(ns), 10)] = true
	}
	const scrapes = 40
	var inFlight int
	for range scrapes {
		time.Sleep(25 * time.Millisecond)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range families {
			if fam.GetName() != "dropspot_flow_lost_packets" {
				continue
			}
			for _, m := range fam.GetMetric() {
				labels := map[string]string{}
				for _, lp := range m.GetLabel() {
					labels[lp.GetName()] = lp.GetValue()
				}
				if ours[labels["netns"]] && labels["src"] == c.A4.String() {
					t.Errorf("healthy flow exported as lossy: %v = %v", labels, m.GetGauge().GetValue())
				}
			}
		}
		snap := snapshot(t, tr)
		for k := range snap.InFlight {
			if k.Src == c.A4 {
				inFlight++
			}
		}
	}
	t.Logf("%d scrapes; %d readings had paths of the flow on the move", scrapes, inFlight)
}
