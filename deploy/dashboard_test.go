package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"

	"github.com/dropspot/dropspot/internal/stage"
)

// --- The Grafana dashboard: its panels and queries. ---

type panel struct {
	ID         int                 `json:"id"`
	Type       string              `json:"type"`
	Title      string              `json:"title"`
	Datasource *datasource         `json:"datasource"`
	GridPos    *struct{ H, W int } `json:"gridPos"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
		Legend     string      `json:"legendFormat"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // rows
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

const dsVar = "${DS_PROMETHEUS}"

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	data, err := os.ReadFile("grafana/dropspot-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatal("dashboard is not valid JSON")
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
		t.Errorf("schemaVersion %d, want about 39", d.SchemaVersion)
	}

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Type {
		case "datasource":
			if v.Name != "DS_PROMETHEUS" || string(v.Query) != `"prometheus"` {
				t.Errorf("datasource variable %s query %s, want DS_PROMETHEUS over prometheus", v.Name, v.Query)
			}
		case "query":
			if v.Datasource == nil || v.Datasource.UID != dsVar {
				t.Errorf("variable %s: datasource %+v, want uid %s", v.Name, v.Datasource, dsVar)
			}
		}
	}
	for _, want := range []string{"DS_PROMETHEUS", "instance", "netns_name"} {
		if !vars[want] {
			t.Errorf("no template variable %s", want)
		}
	}

	ids := map[int]bool{}
	titles := map[string]bool{}
	queries := 0
	for _, p := range allPanels(d.Panels) {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			t.Errorf("%s: duplicate id", where)
		}
		ids[p.ID] = true
		titles[p.Title] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("%s: no gridPos", where)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar {
			t.Errorf("%s: datasource %+v, want uid %s", where, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		for _, tg := range p.Targets {
			queries++
			if tg.Datasource != nil && tg.Datasource.UID != dsVar {
				t.Errorf("%s %s: datasource %+v, want uid %s", where, tg.RefID, tg.Datasource, dsVar)
			}
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("%s %s: %q ignores the instance variable", where, tg.RefID, tg.Expr)
			}
		}
	}
	if queries == 0 {
		t.Fatal("dashboard has no queries")
	}
	for _, q := range dashboardQueries(t, d) {
		checkQuery(t, q)
	}
	for _, want := range []string{"Drops/s by reason and stage", "Drops/s per node", "Packets/s reaching each stage (path order)",
		"Top lossy flows", "Overflow counters", "Hook plan"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

// TestFunnelInPathOrder: the bar gauge shows one query per stage, in the
// order packets travel (Prometheus would return them in any order).
func TestFunnelInPathOrder(t *testing.T) {
	d := loadDashboard(t)
	for _, p := range allPanels(d.Panels) {
		if p.Type != "bargauge" {
			continue
		}
		var got []string
		for _, tg := range p.Targets {
			st := funnelStage(tg.Expr)
			if st == "" {
				t.Fatalf("funnel query %q: want sum(rate(dropspot_stage_packets_total{stage=...}[...]))", tg.Expr)
			}
			if tg.Legend != st {
				t.Errorf("funnel query for %s has legend %q", st, tg.Legend)
			}
			got = append(got, st)
		}
		var want []string
		for s := range stage.Count {
			want = append(want, stage.Stage(s).String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("funnel stages %v, want path order %v", got, want)
		}
		return
	}
	t.Fatal("no bar gauge funnel panel")
}

// funnelStage is the stage of sum(rate(dropspot_stage_packets_total{stage="S"}[W])),
// or "" for any other query.
func funnelStage(expr string) string {
	e, err := metricsql.Parse(expr)
	if err != nil {
		return ""
	}
	sum, ok := e.(*metricsql.AggrFuncExpr)
	if !ok || sum.Name != "sum" || len(sum.Args) != 1 {
		return ""
	}
	rate, ok := sum.Args[0].(*metricsql.FuncExpr)
	if !ok || rate.Name != "rate" || len(rate.Args) != 1 {
		return ""
	}
	sel := selectorOf(rate.Args[0])
	if sel == nil || metricName(sel) != "dropspot_stage_packets_total" {
		return ""
	}
	for _, f := range sel.LabelFilterss[0] {
		if f.Label == "stage" && !f.IsRegexp && !f.IsNegative {
			return f.Value
		}
	}
	return ""
}
