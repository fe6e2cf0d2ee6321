package report

import (
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// Connections that differ only in the client's port and fared alike are
// one entry with their counts added up; one that fared otherwise stays
// apart, as do records with nothing to show.
func TestGroupAlike(t *testing.T) {
	in := counts(map[stage.Stage]uint64{stage.RxDriver: 1, stage.RxCore: 1, stage.IPRcv: 1, stage.IPLocalIn: 1, stage.L4Rcv: 1})
	out := counts(map[stage.Stage]uint64{stage.IPLocalOut: 1, stage.IPPostrouting: 1, stage.TxQueue: 1, stage.TxXmit: 1, stage.TxDone: 1})
	snap := &flow.Snapshot{Flows: map[flow.Key]*flow.Counts{}}
	for sport := uint16(40000); sport < 40005; sport++ {
		syn := flow.Key{Proto: 6, Src: a, Dst: b, Sport: sport, Dport: 8080, Netns: 2}
		snap.Flows[syn] = in
		snap.Flows[syn.Reverse()] = out
		snap.Drops = append(snap.Drops, flow.Drop{Flow: syn, Stage: stage.L4Rcv, HasStage: true, Reason: reasonNoSocket,
			Location: atTCPRcv, Packets: 1})
	}
	// The same port, but nothing lost: not one of them.
	snap.Flows[flow.Key{Proto: 6, Src: a, Dst: b, Sport: 41000, Dport: 8080, Netns: 2}] = counts(map[stage.Stage]uint64{
		stage.RxDriver: 3, stage.RxCore: 3, stage.IPRcv: 3, stage.IPLocalIn: 3, stage.L4Rcv: 3, stage.SockRcv: 3})
	// Nothing counted, nothing dropped: nothing to show.
	snap.Flows[flow.Key{Proto: 17, Src: a, Dst: b, Sport: 1, Dport: 2, Netns: 2}] = &flow.Counts{}
	// Dropped before any stage: its drop, without a funnel of zeros.
	xdp := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 3, Dport: 4, Netns: 2}
	snap.Drops = append(snap.Drops, flow.Drop{Flow: xdp, Reason: reasonNoSocket, Location: atTCPRcv, Packets: 7})

	r := Build(snap, allHooks(), fixtureNamer(t))
	var text strings.Builder
	if err := WriteText(&text, r, TextOptions{Group: true}); err != nil {
		t.Fatal(err)
	}
	got := text.String()
	for _, want := range []string{
		"\n5 connections  tcp 198.18.0.1:* -> 198.18.0.2:8080  netns 2  (local-in)\n" +
			"  rx.driver 5 → rx.core 5 → ip.rcv 5 → ip.local_in 5 → l4.rcv 5 → sock.rcv 0\n" +
			"  lost between l4.rcv and sock.rcv: 5\n  l4.rcv ✗ NO_SOCKET at tcp_v4_rcv+0x99: 5\n",
		"\n5 connections  tcp 198.18.0.2:8080 -> 198.18.0.1:*  netns 2  (local-out)\n" +
			"  ip.local_out 5 → ip.postrouting 5 → tx.queue 5 → tx.xmit 5 → tx.done 5\n",
		"tcp 198.18.0.1:41000 -> 198.18.0.2:8080  netns 2  (local-in)\n  rx.driver 3 ",
		"udp 198.18.0.1:3 -> 198.18.0.2:4  netns 2  (local-in)\n  l4.rcv ✗ NO_SOCKET at tcp_v4_rcv+0x99: 7\n",
		"\n... 1 more flow directions not shown\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, ":1 -> ") {
		t.Errorf("a record with nothing to show is shown:\n%s", got)
	}
}

// ICMP flows are named by their messages in the text and the JSON report,
// which keeps the name through a round trip.
func TestICMPNamed(t *testing.T) {
	req := flow.Key{Proto: 1, Src: a, Dst: b, Sport: 77, Dport: 77, Echo: flow.EchoRequest, Netns: 2}
	unreach := flow.Key{Proto: 1, Src: b, Dst: a, Sport: 3, Dport: 3, Netns: 2}
	snap := &flow.Snapshot{Flows: map[flow.Key]*flow.Counts{
		req:           counts(map[stage.Stage]uint64{stage.IPLocalOut: 2}),
		req.Reverse(): counts(map[stage.Stage]uint64{stage.RxDriver: 2}),
		unreach:       counts(map[stage.Stage]uint64{stage.RxDriver: 1}),
	}}
	r := Build(snap, allHooks(), Namer{})
	var saved strings.Builder
	if err := WriteJSON(&saved, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(strings.NewReader(saved.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range []*Report{r, back} {
		var text strings.Builder
		if err := WriteText(&text, rep, TextOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"icmp echo-request 198.18.0.1 -> 198.18.0.2 id 77  netns 2",
			"icmp echo-reply 198.18.0.2 -> 198.18.0.1 id 77  netns 2", "icmp port-unreachable 198.18.0.2 -> 198.18.0.1  netns 2"} {
			if !strings.Contains(text.String(), want) {
				t.Errorf("report lacks %q:\n%s", want, text.String())
			}
		}
	}
	if !strings.Contains(saved.String(), `"icmp":"echo-request"`) {
		t.Errorf("JSON lacks the ICMP name: %s", saved.String())
	}
}
