package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// A flow direction's TCP loss is in the JSON tcp object, on one text
// verdict line, and survives a JSON round trip; a direction known only
// from its TCP loss (its flow entry pushed out) is still reported.
func TestTCPLossShown(t *testing.T) {
	sender := flow.Key{Proto: 6, Src: a, Dst: b, Sport: 40000, Dport: 443, Netns: 1}
	router := sender
	router.Netns = 2
	receiver := sender
	receiver.Netns = 3
	at := flow.Drop{Flow: router, Stage: stage.IPForward, HasStage: true, Location: 0x10, Packets: 54}
	snap := &flow.Snapshot{
		Flows: map[flow.Key]*flow.Counts{sender: counts(map[stage.Stage]uint64{stage.IPLocalOut: 2000,
			stage.IPPostrouting: 2000, stage.TxQueue: 2000, stage.TxXmit: 2000, stage.TxDone: 2000})},
		TCP: map[flow.Key]flow.TCPLoss{
			sender:   {Retransmitted: 55, DroppedHere: 54, Beyond: 1, DropAt: &at},
			receiver: {Redelivered: 54},
		},
	}
	r := Build(snap, allHooks(), Namer{})
	var js, text1, text2 bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Flows []struct {
			Netns uint32          `json:"netns"`
			TCP   json.RawMessage `json:"tcp"`
		} `json:"flows"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[uint32]string{
		1: `{"retransmitted":55,"dropped_here":54,"beyond":1,"unknown":0,"redelivered_after_drop_here":0,` +
			`"dropped_at":{"netns":2,"stage":"ip.forward","reason":"UNKNOWN","location":"0x10"}}`,
		3: `{"retransmitted":0,"dropped_here":0,"beyond":0,"unknown":0,"redelivered_after_drop_here":54}`,
	}
	if len(doc.Flows) != len(want) {
		t.Fatalf("%d flows, want %d:\n%s", len(doc.Flows), len(want), js.String())
	}
	for _, f := range doc.Flows {
		if got := string(f.TCP); got != want[f.Netns] {
			t.Errorf("netns %d: tcp = %s\nwant %s", f.Netns, got, want[f.Netns])
		}
	}
	if err := WriteText(&text1, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"  tcp: 55 segments retransmitted: 54 after drops on this host (netns 2, ip.forward UNKNOWN), 1 beyond this host, 0 unknown\n",
		"  tcp: 54 segments arrived again after drops on this host\n",
	} {
		if !strings.Contains(text1.String(), line) {
			t.Errorf("text lacks %q:\n%s", line, text1.String())
		}
	}
	back, err := ReadJSON(&js)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&text2, back, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if text1.String() != text2.String() {
		t.Errorf("text differs after a JSON round trip:\n%s\nvs\n%s", text1.String(), text2.String())
	}
}
