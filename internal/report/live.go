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
	o := r.Overflow
	fmt.Fprintf(&b, "dropspot watch  %s elapsed  %d flow directions  evicted %d  unparsed %d  drops unrecorded %d  events lost %d\n",
		time.Duration(r.DurationSeconds*float64(time.Second)).Truncate(time.Second),
		len(r.Flows), o.EvictedFlows, o.Unparsed, o.DropsUnrecorded, o.EventsLost)
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
	var text strings.Builder
	WriteText(&text, r, TextOptions{MaxFlows: fit})
	lines := strings.SplitN(text.String(), "\n", 3)
	if len(lines) == 3 {
		b.WriteString(highlight(lines[2]))
	}
	_, err := io.WriteString(l.w, b.String())
	return err
}

// Terminal colours: drops red, losses yellow.
const (
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

// highlight colours the lines that tell of drops and losses.
func highlight(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		switch {
		case strings.Contains(l, "✗"):
			lines[i] = red + l + reset
		case strings.HasPrefix(strings.TrimSpace(l), "lost between"):
			lines[i] = yellow + l + reset
		}
	}
	return strings.Join(lines, "\n")
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
