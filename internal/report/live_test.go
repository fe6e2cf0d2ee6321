package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The live view, drawn on a 24-row terminal, two frames one second apart
// (so rates show), compared with a golden screen.
func TestLiveGolden(t *testing.T) {
	fw := flow.Key{Proto: 17, Src: a, Dst: b, Sport: 40000, Dport: 5300, Netns: 7}
	ok := flow.Key{Proto: 6, Src: a, Dst: b, Sport: 41000, Dport: 443, Netns: 7}
	snapAt := func(n uint64) *flow.Snapshot {
		s := &flow.Snapshot{Flows: map[flow.Key]*flow.Counts{
			fw: counts(map[stage.Stage]uint64{stage.RxDriver: n, stage.RxCore: n, stage.IPRcv: n, stage.IPLocalIn: n}),
			ok: counts(map[stage.Stage]uint64{stage.RxDriver: 2 * n, stage.RxCore: 2 * n, stage.IPRcv: 2 * n,
				stage.IPLocalIn: 2 * n, stage.L4Rcv: 2 * n, stage.SockRcv: 2 * n}),
		}, Drops: []flow.Drop{{Flow: fw, Stage: stage.IPLocalIn, HasStage: true, Location: 0x10, Packets: n}}}
		for _, st := range []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPLocalIn} {
			s.Totals[st].Packets = 3 * n
		}
		s.Totals[stage.L4Rcv].Packets, s.Totals[stage.SockRcv].Packets = 2*n, 2*n
		return s
	}
	var screen bytes.Buffer
	live := NewLive(&screen, 24)
	t0 := time.Unix(1700000000, 0)
	for i, n := range []uint64{100, 300} {
		screen.Reset()
		r := Build(snapAt(n), allHooks(), Namer{})
		r.DurationSeconds = float64(i + 1)
		if err := live.Frame(r, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	golden := filepath.Join("testdata", "live.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, screen.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(screen.Bytes(), want) {
		t.Errorf("live view changed; got:\n%s\nwant:\n%s\n(go test ./internal/report -run TestLiveGolden -update to accept)", screen.String(), want)
	}
	if lines := bytes.Count(screen.Bytes(), []byte("\n")); lines > 24 {
		t.Errorf("frame has %d lines, terminal has 24", lines)
	}
}
