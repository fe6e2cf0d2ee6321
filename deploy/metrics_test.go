package deploy

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dropspot/dropspot/internal/metrics"
)

// exported is what the exporter declares: metric name -> label names, read
// from internal/metrics' collector itself.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	ch := make(chan *prometheus.Desc, 64)
	metrics.NewCollector(nil, metrics.Options{}).Describe(ch)
	close(ch)
	nameRe := regexp.MustCompile(`fqName: "([^"]+)"`)
	labelsRe := regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	out := map[string][]string{}
	for d := range ch {
		s := d.String()
		n, l := nameRe.FindStringSubmatch(s), labelsRe.FindStringSubmatch(s)
		if n == nil || l == nil {
			t.Fatalf("cannot read descriptor %s", s)
		}
		var labels []string
		if l[1] != "" {
			labels = strings.Split(l[1], ",")
		}
		out[n[1]] = labels
	}
	return out
}

// documented is the metric list the deployment was written against.
var documented = map[string][]string{
	"dropspot_stage_packets_total":                   {"stage"},
	"dropspot_stage_bytes_total":                     {"stage"},
	"dropspot_stage_skipped_packets_total":           {"stage", "why"},
	"dropspot_netns_stage_packets":                   {"netns", "netns_name", "stage"},
	"dropspot_drops_total":                           {"netns", "netns_name", "stage", "reason"},
	"dropspot_interface_drops_total":                 {"netns", "netns_name", "interface", "reason"},
	"dropspot_unparsed_drops_total":                  {"kind", "reason"},
	"dropspot_flow_stage_packets_total":              {"proto", "src", "sport", "dst", "dport", "netns", "stage"},
	"dropspot_flow_lost_packets":                     {"proto", "src", "sport", "dst", "dport", "netns", "from", "to"},
	"dropspot_tcp_retransmitted_segments_total":      {"netns", "netns_name", "verdict"},
	"dropspot_tcp_redelivered_segments_total":        {"netns", "netns_name"},
	"dropspot_flow_tcp_retransmitted_segments_total": {"proto", "src", "sport", "dst", "dport", "netns", "verdict"},
	"dropspot_flows":                                 nil,
	"dropspot_flows_created_total":                   nil,
	"dropspot_flows_evicted_total":                   nil,
	"dropspot_overflow_total":                        {"kind"},
	"dropspot_hook_info":                             {"stage", "hook"},
	"dropspot_netns_hooked":                          nil,
	"dropspot_scrape_duration_seconds":               nil,
}

// targetLabels are added by Prometheus or the ServiceMonitor relabelings.
var targetLabels = []string{"instance", "job", "node", "namespace", "pod", "service", "endpoint", "container"}

func TestDocumentedMetricsAreExported(t *testing.T) {
	got := exported(t)
	for name, labels := range documented {
		have, ok := got[name]
		if !ok {
			t.Errorf("%s: documented but the exporter does not declare it", name)
			continue
		}
		if !slices.Equal(have, labels) {
			t.Errorf("%s: exporter labels %v, documented %v", name, have, labels)
		}
	}
	for name := range got {
		if _, ok := documented[name]; !ok {
			t.Errorf("%s: exported but not in the deployment's list (update deploy/, README series bound)", name)
		}
	}
}
