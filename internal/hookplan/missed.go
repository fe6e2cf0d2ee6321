package hookplan

import (
	"fmt"

	"github.com/dropspot/dropspot/internal/stage"
)

// RunsMissed is, per hooked stage (Drops and TCPRetransmit included), how
// many times the kernel skipped the stage's programs because the same
// program was already running on that CPU: its recursion protection for
// tracing programs, hit when a softirq interrupts a program and passes the
// same hook (a TCP transmit in process context, then one driven by an ACK).
// The packets of those runs are not counted at that stage. The counts are
// the programs' lifetime totals; kernels keep them since 5.12 (0 before).
func (p *Plan) RunsMissed() (map[stage.Stage]uint64, error) {
	missed := map[stage.Stage]uint64{}
	for i, a := range p.attached {
		for _, prog := range a.progs {
			st, err := prog.Stats()
			if err != nil {
				return nil, fmt.Errorf("statistics of %s's program: %w", p.Hooks[i].Name, err)
			}
			missed[p.Hooks[i].Stage] += st.RecursionMisses
		}
	}
	return missed, nil
}
