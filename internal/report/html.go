package report

import (
	"embed"
	"html/template"
	"io"
	"math"

	"github.com/dropspot/dropspot/internal/stage"
)

//go:embed html.tmpl
var htmlFS embed.FS

var htmlTmpl = template.Must(template.New("html.tmpl").Funcs(template.FuncMap{
	"bar": barWidth,
}).ParseFS(htmlFS, "html.tmpl"))

// funnelStep is one bar of a flow's funnel.
type funnelStep struct {
	Stage   string
	Packets uint64
	Max     uint64
	Drops   []Drop
	Benign  []Drop
}

type htmlFlow struct {
	*Flow
	Ends  string // as in the text report
	Steps []funnelStep
}

// WriteHTML renders the report as one self-contained page: a per-stage
// funnel for each flow direction, drops at the stage they happened. No
// scripts, fonts or images from the network.
func WriteHTML(w io.Writer, r *Report) error {
	var flows []htmlFlow
	for i := range r.Flows {
		f := &r.Flows[i]
		var top uint64
		for _, s := range f.path {
			top = max(top, f.counts.Packets[s])
		}
		hf := htmlFlow{Flow: f, Ends: string(appendEnds(nil, f, anyPort{}))}
		for _, s := range f.path {
			step := funnelStep{Stage: s.String(), Packets: f.counts.Packets[s], Max: top,
				Drops: atStage(f.Drops, s), Benign: atStage(f.Benign, s)}
			hf.Steps = append(hf.Steps, step)
		}
		flows = append(flows, hf)
	}
	return htmlTmpl.Execute(w, struct {
		*Report
		HTMLFlows []htmlFlow
	}{r, flows})
}

// atStage picks the drops after stage s.
func atStage(drops []Drop, s stage.Stage) []Drop {
	var out []Drop
	for _, d := range drops {
		if d.Stage == s.String() {
			out = append(out, d)
		}
	}
	return out
}

// barWidth is a bar's length in percent of the flow's busiest stage.
func barWidth(n, top uint64) float64 {
	if top == 0 {
		return 0
	}
	return math.Round(1000*float64(n)/float64(top)) / 10
}
