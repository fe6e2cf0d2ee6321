package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dropspot/dropspot/internal/flow"
)

// TCP retransmissions by verdict per namespace, and per flow for the top
// K retransmitters only, however many connections retransmitted.
func TestTCPRetransmissionSeries(t *testing.T) {
	src := source()
	src.snap.TCP = map[flow.Key]flow.TCPLoss{}
	for i := range 100 {
		k := flow.Key{Proto: 6, Src: a, Dst: b, Sport: uint16(2000 + i), Dport: 443, Netns: 7}
		src.snap.TCP[k] = flow.TCPLoss{Retransmitted: uint64(i + 3), DroppedHere: uint64(i), Beyond: 2, Unknown: 1}
	}
	receiver := flow.Key{Proto: 6, Src: a, Dst: b, Sport: 2000, Dport: 443, Netns: 8}
	src.snap.TCP[receiver] = flow.TCPLoss{Redelivered: 9}
	const topK = 4
	c := NewCollector(src, Options{TopFlows: topK, NetnsNames: func() map[uint32]string { return map[uint32]string{7: "blue"} }})
	want := `
# HELP dropspot_tcp_retransmitted_segments_total TCP segments retransmitted by senders in a namespace, by verdict: dropped_here (the previous copy was dropped on this host), beyond (it left the sender and no drop here explains it), unknown (not seen).
# TYPE dropspot_tcp_retransmitted_segments_total counter
dropspot_tcp_retransmitted_segments_total{netns="7",netns_name="blue",verdict="beyond"} 200
dropspot_tcp_retransmitted_segments_total{netns="7",netns_name="blue",verdict="dropped_here"} 4950
dropspot_tcp_retransmitted_segments_total{netns="7",netns_name="blue",verdict="unknown"} 100
dropspot_tcp_retransmitted_segments_total{netns="8",netns_name="",verdict="beyond"} 0
dropspot_tcp_retransmitted_segments_total{netns="8",netns_name="",verdict="dropped_here"} 0
dropspot_tcp_retransmitted_segments_total{netns="8",netns_name="",verdict="unknown"} 0
# HELP dropspot_tcp_redelivered_segments_total TCP segments received in a namespace again after this host dropped an earlier copy.
# TYPE dropspot_tcp_redelivered_segments_total counter
dropspot_tcp_redelivered_segments_total{netns="7",netns_name="blue"} 0
dropspot_tcp_redelivered_segments_total{netns="8",netns_name=""} 9
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "dropspot_tcp_retransmitted_segments_total",
		"dropspot_tcp_redelivered_segments_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "dropspot_flow_tcp_retransmitted_segments_total"); n != topK*len(verdicts) {
		t.Errorf("per-flow TCP series = %d, want %d", n, topK*len(verdicts))
	}
	value(t, c, "dropspot_flow_tcp_retransmitted_segments_total", "sport", "2099") // the top one is there
}
