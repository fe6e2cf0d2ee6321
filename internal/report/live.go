package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Live redraws the current report on a terminal, rates included.
type Live struct {
	w      io.Writer
	rows   int
	last   map[string]uint64 // packets per stage at the previous frame
	lastAt time.Time
}

// NewLive draws on w, a terminal of the given height.
func NewLive(w io.Writer, rows int) *Live {
	return &Live{w: w, rows: rows}
}

// Frame draws one screen: totals with rates per second, then the flows
// with the most loss that fit.
func (l *Live) Frame(r *Report, now time.Time) error {
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J") // home, clear
	fmt.Fprintf(&b, "dropspot watch  %s elapsed  %d flow directions  evicted %d  unparsed %d\n",
		time.Duration(r.DurationSeconds*float64(time.Second)).Truncate(time.Second),
		len(r.Flows), r.Overflow.EvictedFlows, r.Overflow.Unparsed)
	var rates []string
	for _, h := range r.Hooks {
		n := r.Totals[h.Stage].Packets
		rate := 0.0
		if dt := now.Sub(l.lastAt).Seconds(); l.last != nil && dt > 0 {
			rate = float64(n-l.last[h.Stage]) / dt
		}
		rates = append(rates, fmt.Sprintf("%s %d (%.0f/s)", h.Stage, n, rate))
	}
	b.WriteString(wrap(rates, "  ", 100))
	l.last = map[string]uint64{}
	for _, h := range r.Hooks {
		l.last[h.Stage] = r.Totals[h.Stage].Packets
	}
	l.lastAt = now

	// Each flow block takes up to four lines.
	fit := max(1, (l.rows-6)/4)
	sub := *r
	var text strings.Builder
	WriteText(&text, &sub, TextOptions{MaxFlows: fit})
	lines := strings.SplitN(text.String(), "\n", 3)
	if len(lines) == 3 {
		b.WriteString(lines[2])
	}
	_, err := io.WriteString(l.w, b.String())
	return err
}

// wrap joins items into lines no longer than width.
func wrap(items []string, sep string, width int) string {
	var b strings.Builder
	line := 0
	for i, it := range items {
		if i > 0 && line+len(sep)+len(it) > width {
			b.WriteString("\n")
			line = 0
		} else if i > 0 {
			b.WriteString(sep)
			line += len(sep)
		}
		b.WriteString(it)
		line += len(it)
	}
	b.WriteString("\n")
	return b.String()
}
