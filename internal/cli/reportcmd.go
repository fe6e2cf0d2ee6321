package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/dropspot/dropspot/internal/report"
)

// reportCmd re-renders a saved JSON report as text or as an HTML page.
func reportCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", stdout)
	html := fs.Bool("html", false, "write a self-contained HTML page with a per-stage funnel of each flow (to stdout)")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return badUsage("want one JSON report file (from `dropspot watch --json`)")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := report.ReadJSON(f)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	if *html {
		return report.WriteHTML(stdout, r)
	}
	return report.WriteText(stdout, r, report.TextOptions{})
}
