package report

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The text report's overflow line is where a reader learns what the
// tables could not hold: every counter of Overflow must be on it, by its
// JSON name (events_throttled once was not, so a --events run hid how
// many drops it did not stream).
func TestTextOverflowLineHasEveryCounter(t *testing.T) {
	var r Report
	v := reflect.ValueOf(&r.Overflow).Elem()
	want := map[string]uint64{}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type.Kind() != reflect.Uint64 {
			continue
		}
		n := uint64(101 + i) // distinct, so a swapped argument shows
		v.Field(i).SetUint(n)
		want[strings.Split(f.Tag.Get("json"), ",")[0]] = n
	}
	var out bytes.Buffer
	if err := WriteText(&out, &r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "overflow: ") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no overflow line in\n%s", out.String())
	}
	fields := strings.Fields(strings.TrimPrefix(line, "overflow: "))
	got := map[string]bool{}
	for _, f := range fields {
		got[f] = true
	}
	for name, n := range want {
		if name == "flows_created" {
			continue // not a loss: evicted_flows is what it is for
		}
		if kv := fmt.Sprintf("%s=%d", name, n); !got[kv] {
			t.Errorf("overflow line lacks %s: %q", kv, line)
		}
	}
}

// The text report's header says which stages were chosen (--stages), and
// JSON carries it, read back as it was written.
func TestChosenStagesInHeaderAndJSON(t *testing.T) {
	r := Report{Stages: "seed", Flows: []Flow{}, Hooks: []Hook{{Stage: "rx.driver", Hook: "tp_btf/netif_rx"}}}
	var out bytes.Buffer
	if err := WriteText(&out, &r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\nstages chosen: seed\n") {
		t.Errorf("no chosen stages in the header:\n%s", out.String())
	}
	out.Reset()
	if err := WriteJSON(&out, &r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Stages != "seed" {
		t.Errorf("read back stages %q", back.Stages)
	}
}

// A stage whose program the kernel skipped says so, in stage order, in
// the text report and in JSON (totals[stage].runs_missed).
func TestRunsMissedShown(t *testing.T) {
	r := Report{Flows: []Flow{}, Totals: map[string]StageTotal{
		"tx.queue": {Packets: 10, RunsMissed: 1}, "ip.postrouting": {Packets: 9, RunsMissed: 2}, "rx.driver": {Packets: 3},
	}}
	var out bytes.Buffer
	if err := WriteText(&out, &r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "not counted there): ip.postrouting 2, tx.queue 1\n"; !strings.Contains(out.String(), want) {
		t.Errorf("text report lacks %q:\n%s", want, out.String())
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, &r); err != nil {
		t.Fatal(err)
	}
	if want := `"ip.postrouting":{"packets":9,"bytes":0,"filtered":0,"not_ip":0,"malformed":0,"runs_missed":2}`; !strings.Contains(js.String(), want) {
		t.Errorf("JSON lacks %s:\n%s", want, js.String())
	}
	r.Totals = map[string]StageTotal{"tx.queue": {Packets: 10}}
	out.Reset()
	if err := WriteText(&out, &r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "runs missed") {
		t.Errorf("a line of runs missed when none were:\n%s", out.String())
	}
}
