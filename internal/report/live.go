package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dropspot/dropspot/internal/stage"
)

// Live redraws the current report on a terminal, rates included.
type Live struct {
	w          io.Writer
	rows, cols int
	last       map[string]uint64 // packets per stage (and drops) at the previous frame
	lastAt     time.Time
}

// NewLive draws on w, a terminal of the given size.
func NewLive(w io.Writer, rows, cols int) *Live {
	return &Live{w: w, rows: rows, cols: cols}
}

// Resize sets the terminal's size for the next frames.
func (l *Live) Resize(rows, cols int) { l.rows, l.cols = rows, cols }

// dropsKey is where last keeps the drop count.
var dropsKey = stage.Drops.String()

// Frame draws one screen that fits the terminal: totals with rates per
// second (the report's own), then as many of the flows with the most loss
// as fit, each line broken to the terminal's width.
func (l *Live) Frame(r *Report, now time.Time) error {
	drops, benign := r.DropTotals()
	counts := map[string]uint64{dropsKey: drops}
	for name, t := range r.Totals {
		counts[name] = t.Packets
	}
	rate := func(name string) string {
		per := 0.0
		if dt := now.Sub(l.lastAt).Seconds(); l.last != nil && dt > 0 {
			per = float64(counts[name]-l.last[name]) / dt
		}
		return fmt.Sprintf("%s %d (%.0f/s)", name, counts[name], per)
	}
	o := r.Overflow
	head := []string{"dropspot watch", fmt.Sprintf("%s elapsed", time.Duration(r.DurationSeconds*float64(time.Second)).Truncate(time.Second)),
		fmt.Sprintf("%d flow directions", len(r.Flows)), rate(dropsKey), fmt.Sprintf("benign %d", benign),
		fmt.Sprintf("evicted %d", o.EvictedFlows), fmt.Sprintf("unparsed %d", o.Unparsed),
		fmt.Sprintf("drops unrecorded %d", o.DropsUnrecorded), fmt.Sprintf("events lost %d", o.EventsLost)}
	var rates []string
	for _, h := range r.Hooks {
		if _, ok := r.Totals[h.Stage]; ok {
			rates = append(rates, rate(h.Stage))
		}
	}
	l.last, l.lastAt = counts, now

	screen := append(fitItems(head, l.cols), fitItems(rates, l.cols)...)
	for _, u := range o.UnparsedDrops {
		screen = append(screen, l.fit(appendUnparsedText(nil, u))...)
	}
	shown := 0
	for i := range r.Flows {
		block := append([]string{""}, l.fit(appendFlowText(nil, r, &r.Flows[i]))...)
		// The last row is kept for the line saying what did not fit.
		if len(screen)+len(block) > l.rows-1 {
			break
		}
		screen = append(screen, block...)
		shown++
	}
	if shown < len(r.Flows) {
		screen = append(screen, "", fmt.Sprintf("... %d more flow directions not shown", len(r.Flows)-shown))
	}
	if len(screen) > l.rows {
		screen = screen[:l.rows]
	}
	_, err := io.WriteString(l.w, "\x1b[H\x1b[2J"+strings.Join(screen, "\n")+"\n") // home, clear
	return err
}

// fit breaks text into lines that fit the terminal, each coloured as the
// line it came of.
func (l *Live) fit(text []byte) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		colour := highlight(line)
		for _, part := range fitLine(line, l.cols) {
			if colour != "" {
				part = colour + part + reset
			}
			out = append(out, part)
		}
	}
	return out
}

// Terminal colours: drops red, losses yellow.
const (
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

// highlight is the colour of a line that tells of drops or losses.
func highlight(line string) string {
	switch {
	case strings.Contains(line, "✗"):
		return red
	case strings.HasPrefix(strings.TrimSpace(line), "lost between"):
		return yellow
	}
	return ""
}
