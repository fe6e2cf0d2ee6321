package metrics

import (
	"cmp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dropspot/dropspot/internal/report"
)

// verdicts are the values of the verdict label, in the order of report.TCP.
var verdicts = []string{"dropped_here", "beyond", "unknown"}

// tcpVerdicts yields a TCP loss's retransmitted segments by verdict.
func tcpVerdicts(t *report.TCP) map[string]uint64 {
	return map[string]uint64{verdicts[0]: t.DroppedHere, verdicts[1]: t.Beyond, verdicts[2]: t.Unknown}
}

// addTCP sums two TCP losses (of one namespace).
func addTCP(sum report.TCP, t *report.TCP) report.TCP {
	sum.Retransmitted += t.Retransmitted
	sum.DroppedHere += t.DroppedHere
	sum.Beyond += t.Beyond
	sum.Unknown += t.Unknown
	sum.RedeliveredAfterDropHere += t.RedeliveredAfterDropHere
	return sum
}

// collectTopTCPFlows emits per-flow retransmissions by verdict for the K
// flow directions that retransmitted most: they are not necessarily the
// ones that lost most on this host (a sender whose segments were dropped
// in another namespace lost nothing in its own).
func (c *Collector) collectTopTCPFlows(ch chan<- prometheus.Metric, r *report.Report) {
	var top []*report.Flow
	for i := range r.Flows {
		if t := r.Flows[i].TCP; t != nil && t.Retransmitted > 0 {
			top = append(top, &r.Flows[i])
		}
	}
	slices.SortStableFunc(top, func(a, b *report.Flow) int { return cmp.Compare(b.TCP.Retransmitted, a.TCP.Retransmitted) })
	for _, f := range top[:min(len(top), c.opts.TopFlows)] {
		for verdict, n := range tcpVerdicts(f.TCP) {
			ch <- prometheus.MustNewConstMetric(flowTCPRetrans, prometheus.CounterValue, float64(n),
				append(flowLabelValues(f), verdict)...)
		}
	}
}
