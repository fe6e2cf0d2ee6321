package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
	"sigs.k8s.io/yaml"
)

// query is one PromQL expression of the dashboard. label, for a template
// variable, is the label whose values it lists: Grafana's
// label_values(SELECTOR, LABEL) is not PromQL, its SELECTOR is.
type query struct {
	where string
	expr  string
	label string
}

var labelValuesRe = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// dashboardQueries lists every query of the dashboard: its panels' targets
// and its query variables (definition and query, which Grafana keeps apart).
func dashboardQueries(t *testing.T, d *dashboard) []query {
	t.Helper()
	var qs []query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		defs := map[string]string{"definition": v.Definition}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err == nil && q.Query != "" && q.Query != v.Definition {
			defs["query"] = q.Query
		}
		for _, field := range slices.Sorted(maps.Keys(defs)) {
			where := fmt.Sprintf("variable %s %s", v.Name, field)
			m := labelValuesRe.FindStringSubmatch(defs[field])
			if m == nil {
				t.Errorf("%s: %q, want label_values(SELECTOR, LABEL)", where, defs[field])
				continue
			}
			qs = append(qs, query{where: where, expr: m[1], label: m[2]})
		}
	}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, query{where: fmt.Sprintf("panel %d %q %s", p.ID, p.Title, tg.RefID), expr: tg.Expr})
		}
	}
	return qs
}

// labelSet is the labels a PromQL (sub)expression's series carry.
type labelSet map[string]bool

func setOf(names ...string) labelSet {
	s := labelSet{}
	for _, n := range names {
		s[n] = true
	}
	return s
}

// missing lists the names that are not in s.
func (s labelSet) missing(names []string) []string {
	var out []string
	for _, n := range names {
		if !s[n] {
			out = append(out, n)
		}
	}
	return out
}

// checkQuery parses q with a PromQL parser and checks it against what the
// exporter declares: only documented metrics, matchers on labels they have
// (or the scrape adds), rate() and increase() on counters only, and every
// label a by/without/on/group_left names present on the series it applies
// to, following the labels through aggregations and joins.
func checkQuery(t *testing.T, q query) {
	t.Helper()
	e, err := metricsql.Parse(q.expr)
	if err != nil {
		t.Errorf("%s: %q: %v", q.where, q.expr, err)
		return
	}
	c := &queryChecker{t: t, q: q}
	out := c.labels(e)
	if c.metrics == 0 {
		t.Errorf("%s: %q names no dropspot metric", q.where, q.expr)
	}
	if q.label != "" && !out[q.label] {
		t.Errorf("%s: label_values over %q lists %q, which its series do not have", q.where, q.expr, q.label)
	}
}

type queryChecker struct {
	t       *testing.T
	q       query
	metrics int
}

func (c *queryChecker) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("%s: %s in %q", c.q.where, fmt.Sprintf(format, args...), c.q.expr)
}

// labels checks e and returns the labels of its result.
func (c *queryChecker) labels(e metricsql.Expr) labelSet {
	c.t.Helper()
	switch e := e.(type) {
	case *metricsql.MetricExpr:
		return c.selector(e)
	case *metricsql.RollupExpr:
		return c.labels(e.Expr)
	case *metricsql.FuncExpr:
		var out labelSet
		for i, a := range e.Args {
			l := c.labels(a)
			if i == 0 {
				out = l
			}
		}
		if e.Name == "rate" || e.Name == "irate" || e.Name == "increase" {
			if sel := selectorOf(e.Args[0]); sel != nil && !strings.HasSuffix(metricName(sel), "_total") {
				c.errorf("%s over gauge %s", e.Name, metricName(sel))
			}
		}
		return out
	case *metricsql.AggrFuncExpr:
		return c.aggregation(e)
	case *metricsql.BinaryOpExpr:
		return c.binary(e)
	case *metricsql.NumberExpr, *metricsql.StringExpr:
		return labelSet{}
	}
	c.errorf("unexpected expression %T", e)
	return labelSet{}
}

func (c *queryChecker) selector(e *metricsql.MetricExpr) labelSet {
	c.t.Helper()
	name := metricName(e)
	own, ok := documented[name]
	if !ok {
		c.errorf("unknown metric %q", name)
		return setOf(targetLabels...)
	}
	c.metrics++
	have := setOf(slices.Concat(own, targetLabels)...)
	for _, fs := range e.LabelFilterss {
		for _, f := range fs {
			if f.Label != "__name__" && !have[f.Label] {
				c.errorf("%s has no label %q", name, f.Label)
			}
		}
	}
	return have
}

// keepsLabels are the aggregations whose result is a subset of their input
// series, labels and all.
var keepsLabels = map[string]bool{"topk": true, "bottomk": true, "limitk": true}

func (c *queryChecker) aggregation(e *metricsql.AggrFuncExpr) labelSet {
	c.t.Helper()
	var in labelSet
	for _, a := range e.Args {
		if l := c.labels(a); len(l) > 0 {
			in = l // the series argument: topk(K, SERIES), sum(SERIES)
		}
	}
	if miss := in.missing(e.Modifier.Args); len(miss) > 0 {
		c.errorf("%s %s %v: not labels of the series it aggregates", e.Name, e.Modifier.Op, miss)
	}
	switch {
	case e.Modifier.Op == "by":
		return setOf(e.Modifier.Args...)
	case e.Modifier.Op == "without":
		out := maps.Clone(in)
		for _, l := range e.Modifier.Args {
			delete(out, l)
		}
		return out
	case keepsLabels[e.Name]:
		return in
	}
	return labelSet{}
}

func (c *queryChecker) binary(e *metricsql.BinaryOpExpr) labelSet {
	c.t.Helper()
	left, right := c.labels(e.Left), c.labels(e.Right)
	if len(left) == 0 {
		return right // scalar op vector
	}
	if len(right) == 0 {
		return left
	}
	if on := e.GroupModifier.Args; e.GroupModifier.Op == "on" {
		if miss := slices.Concat(left.missing(on), right.missing(on)); len(miss) > 0 {
			c.errorf("on %v: %v not on both sides", on, miss)
		}
	}
	out := left
	extra, from := e.JoinModifier.Args, right
	if e.JoinModifier.Op == "group_right" {
		out, from = right, left
	}
	if e.JoinModifier.Op != "" {
		if miss := from.missing(extra); len(miss) > 0 {
			c.errorf("%s %v: %v not on the side they are taken from", e.JoinModifier.Op, extra, miss)
		}
		out = maps.Clone(out)
		maps.Copy(out, setOf(extra...))
	}
	return out
}

// selectorOf is the series selector e reads, through a range: x or x[5m].
func selectorOf(e metricsql.Expr) *metricsql.MetricExpr {
	if r, ok := e.(*metricsql.RollupExpr); ok {
		e = r.Expr
	}
	sel, _ := e.(*metricsql.MetricExpr)
	if sel == nil || len(sel.LabelFilterss) != 1 {
		return nil
	}
	return sel
}

func metricName(e *metricsql.MetricExpr) string {
	for _, fs := range e.LabelFilterss {
		for _, f := range fs {
			if f.Label == "__name__" && !f.IsRegexp && !f.IsNegative {
				return f.Value
			}
		}
	}
	return ""
}

// TestDashboardQueriesParseAsPromQL hands every query to Prometheus's own
// parser: promtool (Debian's prometheus package, which the serve tests use
// too) checks them as recording rules. The parser above (MetricsQL) reads
// a superset of PromQL; this is what Prometheus itself accepts.
func TestDashboardQueriesParseAsPromQL(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (apt-get install prometheus)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	type group struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	}
	var groups []group
	for _, q := range dashboardQueries(t, loadDashboard(t)) {
		groups = append(groups, group{Name: q.where, Rules: []rule{{Record: "dropspot:dashboard", Expr: q.expr}}})
	}
	data, err := yaml.Marshal(map[string][]group{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Each query is a group named after where it is: promtool names the group of an error.
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
