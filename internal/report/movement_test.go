package report

import (
	"testing"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/stage"
)

// A decrease that is gone when the flow is read again was packets on
// their way; one that stays is a loss.
func TestMovementBetween(t *testing.T) {
	counts := func(rx, core uint64) *flow.Counts {
		var c flow.Counts
		c.Packets[stage.RxDriver], c.Packets[stage.RxCore] = rx, core
		return &c
	}
	var seen [stage.Count]uint64
	seen[stage.RxDriver] = 1
	for _, tc := range []struct {
		name   string
		now    *flow.Counts
		moving movement
		want   uint64
	}{
		{"passed on", counts(10, 8), movement{later: counts(12, 12)}, 2},
		{"one lost, one passed on", counts(10, 8), movement{later: counts(12, 11)}, 1},
		{"lost", counts(10, 8), movement{later: counts(10, 8)}, 0},
		{"seen on its way", counts(10, 9), movement{transit: &seen}, 1},
		{"nothing known", counts(10, 9), movement{}, 0},
	} {
		if got := tc.moving.between(stage.RxDriver, stage.RxCore, tc.now); got != tc.want {
			t.Errorf("%s: %d in flight, want %d", tc.name, got, tc.want)
		}
	}
}
