package report

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/stage"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// liveSnapshot is n seconds' worth of traffic: a UDP flow over IPv6 whose
// datagrams meet a closed port, a busy forwarded flow (long funnel), a
// healthy TCP flow, and non-IP frames dropped.
func liveSnapshot(n uint64) *flow.Snapshot {
	v6a, v6b := netip.MustParseAddr("2001:db8:100::1"), netip.MustParseAddr("2001:db8:100::2")
	closed := flow.Key{Proto: 17, Src: v6a, Dst: v6b, Sport: 40000, Dport: 5300, Netns: 4026532290}
	fwd := flow.Key{Proto: 6, Src: a, Dst: b, Sport: 41000, Dport: 443, Netns: 4026532291}
	ok := flow.Key{Proto: 6, Src: a, Dst: b, Sport: 42000, Dport: 22, Netns: 4026532290}
	big := 123456 * n
	s := &flow.Snapshot{Flows: map[flow.Key]*flow.Counts{
		closed: counts(map[stage.Stage]uint64{stage.RxDriver: n, stage.RxCore: n, stage.IPRcv: n, stage.IPLocalIn: n, stage.L4Rcv: n}),
		fwd: counts(map[stage.Stage]uint64{stage.RxDriver: big, stage.RxCore: big, stage.IPRcv: big, stage.IPForward: big,
			stage.IPPostrouting: big, stage.TxQueue: big, stage.TxXmit: big, stage.TxDone: big}),
		ok: counts(map[stage.Stage]uint64{stage.RxDriver: 2 * n, stage.RxCore: 2 * n, stage.IPRcv: 2 * n,
			stage.IPLocalIn: 2 * n, stage.L4Rcv: 2 * n, stage.SockRcv: 2 * n}),
	}, Drops: []flow.Drop{
		{Flow: closed, Stage: stage.L4Rcv, HasStage: true, Reason: reasonNoSocket, Location: atTCPRcv, Packets: n},
		{Kind: flow.DropNotIP, Reason: reasonNoSocket, Location: atTCPRcv, Packets: 2},
	}}
	for st := range stage.Count {
		for _, c := range s.Flows {
			s.Totals[st].Packets += c.Packets[st]
		}
	}
	return s
}

// The live view on terminals of 80 and 140 columns, two frames one second
// apart (so rates show), compared with golden screens: every line fits
// (funnels break between stages, explanations between words), the frame
// fits the rows, and the totals are the report's.
func TestLiveGolden(t *testing.T) {
	ansi := regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")
	for _, size := range []struct{ rows, cols int }{{24, 80}, {30, 140}} {
		var screen bytes.Buffer
		live := NewLive(&screen, size.rows, size.cols)
		t0 := time.Unix(1700000000, 0)
		var r *Report
		for i, n := range []uint64{100, 300} {
			screen.Reset()
			// The plan's drop hook is in the hooks, as in a real run.
			hooks := append(allHooks(), hookplan.Hook{Stage: stage.Drops, Name: "tp_btf/kfree_skb"})
			r = Build(liveSnapshot(n), hooks, fixtureNamer(t))
			r.DurationSeconds = float64(i + 1)
			if err := live.Frame(r, t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		golden := filepath.Join("testdata", fmt.Sprintf("live-%d.golden", size.cols))
		if *update {
			os.WriteFile(golden, screen.Bytes(), 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(screen.Bytes(), want) {
			t.Errorf("%d columns: live view changed; got:\n%s\nwant:\n%s\n(go test ./internal/report -run TestLiveGolden -update to accept)",
				size.cols, screen.String(), want)
		}
		plain := ansi.ReplaceAllString(screen.String(), "")
		lines := strings.Split(strings.TrimSuffix(plain, "\n"), "\n")
		if len(lines) > size.rows {
			t.Errorf("%d columns: frame has %d lines, terminal has %d", size.cols, len(lines), size.rows)
		}
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > size.cols {
				t.Errorf("%d columns: line of %d: %q", size.cols, n, l)
			}
		}
		drops, _ := r.DropTotals()
		if drops != 302 || !strings.Contains(lines[0], fmt.Sprintf("drops %d (200/s)", drops)) ||
			len(regexp.MustCompile(`drops \d+ \(`).FindAllString(plain, -1)) != 1 {
			t.Errorf("%d columns: header %q does not show the report's %d drops", size.cols, lines[0], drops)
		}
		if !strings.Contains(plain, "NO_SOCKET at tcp_v4_rcv+0x99: 300") {
			t.Errorf("%d columns: no drop on screen:\n%s", size.cols, plain)
		}
	}
}

// Lines break between stages and words, never inside one.
func TestFitLine(t *testing.T) {
	for _, c := range []struct {
		line  string
		width int
		want  []string
	}{
		{"  a 1 → b 2 → c 3", 40, []string{"  a 1 → b 2 → c 3"}},
		{"  rx.driver 100 → rx.core 100 → ip.rcv 100", 30, []string{"  rx.driver 100 → rx.core 100", "    → ip.rcv 100"}},
		{"      one two three four five six", 22, []string{"      one two three", "        four five six"}},
		{"x " + strings.Repeat("y", 30), 20, []string{"x", "  " + strings.Repeat("y", 18), "  " + strings.Repeat("y", 12)}},
		{"conn 1  udp [2001:db8::1]:1 -> [2001:db8::2]:2  netns 7  (local-in)", 40,
			[]string{"conn 1", "  udp [2001:db8::1]:1 -> [2001:db8::2]:2", "  netns 7  (local-in)"}},
		{"conn 1  udp 198.18.0.1:1 -> 198.18.0.2:2  netns 7  (local-in)", 50,
			[]string{"conn 1  udp 198.18.0.1:1 -> 198.18.0.2:2  netns 7", "  (local-in)"}},
	} {
		if got := fitLine(c.line, c.width); !slicesEqual(got, c.want) {
			t.Errorf("fitLine(%q, %d) = %q, want %q", c.line, c.width, got, c.want)
		}
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }
