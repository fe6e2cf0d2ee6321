package tracer

import (
	"testing"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// Runs the kernel skipped count from the window's opening, each at its
// place: a stage's in its totals, the drop and retransmission hooks' in
// the overflow counters.
func TestRunsMissedSinceTheWindowOpened(t *testing.T) {
	var s flow.Snapshot
	now := map[stage.Stage]uint64{stage.IPPostrouting: 7, stage.TxQueue: 2, stage.Drops: 5, stage.TCPRetransmit: 3}
	atOpen := map[stage.Stage]uint64{stage.IPPostrouting: 4, stage.Drops: 5}
	putRunsMissed(&s, now, atOpen)
	for st, want := range map[stage.Stage]uint64{stage.IPPostrouting: 3, stage.TxQueue: 2, stage.RxDriver: 0} {
		if got := s.Totals[st].RunsMissed; got != want {
			t.Errorf("%s: runs missed %d, want %d", st, got, want)
		}
	}
	if s.Overflow.DropRunsMissed != 0 || s.Overflow.RetransmitRunsMissed != 3 {
		t.Errorf("drop hook %d, retransmission hook %d runs missed; want 0 and 3",
			s.Overflow.DropRunsMissed, s.Overflow.RetransmitRunsMissed)
	}
}
