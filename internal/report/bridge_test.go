package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/dropspot/dropspot/internal/dropreason"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// fakeLinks is one namespace's devices: ifindex -> name and master.
type fakeLinks map[uint32]struct {
	name   string
	master uint32
}

func (l fakeLinks) Link(_, ifindex uint32) (string, uint32) {
	return l[ifindex].name, l[ifindex].master
}

// A flow a bridge forwarded takes the bridge path, names the bridge and
// its ports, and places its firewall drops in the bridge; the same
// counts without the bridge mark are an ordinary receive.
func TestBridgedFlow(t *testing.T) {
	key := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 40000, Dport: 9999, Netns: 2}
	c := counts(map[stage.Stage]uint64{stage.RxDriver: 20, stage.RxCore: 20, stage.TxQueue: 15, stage.TxXmit: 15,
		stage.TxDone: 15})
	snap := &flow.Snapshot{
		Flows:   map[flow.Key]*flow.Counts{key: c},
		Bridged: map[flow.Key]flow.BridgePorts{key: {In: 3, Out: 4}},
		Drops:   []flow.Drop{{Flow: key, Stage: stage.RxCore, HasStage: true, Reason: 12, Location: 0x10, Packets: 5}},
	}
	reasons := dropreason.FromEnum(&btf.Enum{Name: "skb_drop_reason",
		Values: []btf.EnumValue{{Name: "SKB_DROP_REASON_NETFILTER_DROP", Value: 12}}})
	links := fakeLinks{2: {"br0", 0}, 3: {"veth-a", 2}, 4: {"veth-b", 2}}
	r := Build(snap, allHooks(), Namer{Reasons: reasons, Links: links})
	f := r.Flows[0]
	if f.Path != "bridge" || f.Bridge == nil || *f.Bridge != (Bridge{Name: "br0", In: "veth-a", Out: "veth-b"}) {
		t.Fatalf("path %q, bridge %+v", f.Path, f.Bridge)
	}
	if len(f.Losses) != 1 || f.Losses[0].From != "rx.core" || f.Losses[0].To != "tx.queue" ||
		f.Losses[0].Unexplained != 0 {
		t.Errorf("losses: %+v", f.Losses)
	}
	if nf := f.Drops[0].Netfilter; !strings.Contains(nf, "bridge-family") || !strings.Contains(nf, "FORWARD") {
		t.Errorf("firewall drop of a bridged flow placed at %q", nf)
	}

	var text, saved bytes.Buffer
	WriteText(&text, r, TextOptions{})
	if want := "(bridge br0: veth-a → veth-b)\n  rx.driver 20 → rx.core 20 → tx.queue 15 → tx.xmit 15 → tx.done 15\n"; !strings.Contains(text.String(), want) {
		t.Errorf("text lacks %q:\n%s", want, text.String())
	}
	if err := WriteJSON(&saved, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Flows []struct {
			Bridge Bridge `json:"bridge"`
		} `json:"flows"`
	}
	if err := json.Unmarshal(saved.Bytes(), &doc); err != nil || doc.Flows[0].Bridge != *f.Bridge {
		t.Errorf("JSON bridge %+v (%v), want %+v", doc.Flows[0].Bridge, err, *f.Bridge)
	}
	back, err := ReadJSON(&saved)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	WriteText(&again, back, TextOptions{})
	if again.String() != text.String() {
		t.Errorf("text differs after a JSON round trip:\n%s\nvs\n%s", text.String(), again.String())
	}

	snap.Bridged = nil
	if f := Build(snap, allHooks(), Namer{}).Flows[0]; f.Path != "local-in" || f.Bridge != nil {
		t.Errorf("unmarked flow: path %q, bridge %+v", f.Path, f.Bridge)
	}
}

// Devices that cannot be named any more show their ifindex; ports no
// longer in a bridge leave the bridge unnamed.
func TestBridgeNamesUnknown(t *testing.T) {
	key := flow.Key{Proto: 17, Src: a, Dst: b, Netns: 2}
	got := Namer{}.bridges(map[flow.Key]flow.BridgePorts{key: {In: 3, Out: 4}})[key]
	if *got != (Bridge{In: "if3", Out: "if4"}) {
		t.Errorf("bridge %+v", got)
	}
	var text []byte
	if text = appendBridgeText(text, got); string(text) != ": if3 → if4" {
		t.Errorf("text %q", text)
	}
}
