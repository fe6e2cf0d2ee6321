package report

import (
	"embed"
	"html/template"
	"io"
	"math"
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
}

type htmlFlow struct {
	*Flow
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
		hf := htmlFlow{Flow: f}
		for _, s := range f.path {
			step := funnelStep{Stage: s.String(), Packets: f.counts.Packets[s], Max: top}
			for _, d := range f.Drops {
				if d.Stage == s.String() {
					step.Drops = append(step.Drops, d)
				}
			}
			hf.Steps = append(hf.Steps, step)
		}
		flows = append(flows, hf)
	}
	return htmlTmpl.Execute(w, struct {
		*Report
		HTMLFlows []htmlFlow
	}{r, flows})
}

// barWidth is a bar's length in percent of the flow's busiest stage.
func barWidth(n, top uint64) float64 {
	if top == 0 {
		return 0
	}
	return math.Round(1000*float64(n)/float64(top)) / 10
}
