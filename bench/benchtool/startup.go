package main

import (
	"os"
	"strconv"
	"time"
)

// Phase startup: exec to --ready-file, the whole plan loaded and attached.
// Its samples are Results.StartupMS and StartupNetns; startup.csv, the
// Startup section and the startup target are its.

func (b *bench) phaseStartup() error {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	for i := 0; i < b.opt.startupReps; i++ {
		t, err := b.startDropspot(nil, devnull)
		if err != nil {
			return err
		}
		b.res.StartupMS = append(b.res.StartupMS, ms(t.startup))
		b.res.StartupNetns = append(b.res.StartupNetns, t.netns)
		if err := t.stop(); err != nil {
			return err
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *Results) startupMarkdown(p printer) {
	if r.Summary.Startup.N == 0 {
		return
	}
	p("\n## Startup (exec → --ready-file, full plan loaded and attached)\n\n")
	p("%s ms over %d runs (median [min–max]); netfilter links in %v namespaces (all namespaces on the host)\n", spread(r.Summary.Startup, "%.0f"), r.Summary.Startup.N, r.StartupNetns)
}

func (r *Results) startupTargets(p printer) {
	if r.Summary.Startup.N > 0 {
		v := verdict(r.Summary.Startup.Median <= 1000)
		if r.Summary.Startup.Median <= 1000 && r.Summary.Startup.Max > 1000 {
			v = "met by the median; the slowest run was over"
		}
		p("| full plan loaded and attached in ≤ 1 s | %.0f ms median, %.0f ms max | %s |\n", r.Summary.Startup.Median, r.Summary.Startup.Max, v)
	}
}

func (r *Results) startupCSV() (string, [][]string) {
	rows := [][]string{{"rep", "startup_ms"}}
	for i, x := range r.StartupMS {
		rows = append(rows, []string{strconv.Itoa(i), csvFloat(x)})
	}
	return "startup.csv", rows
}
