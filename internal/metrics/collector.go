// Package metrics serves dropspot's counts to Prometheus. A custom
// collector reads the BPF maps at scrape time; series are bounded no matter
// how many flows exist: per-flow series only for the top-K flows by loss.
package metrics

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/stage"
)

const namespace = "dropspot"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

var flowLabels = []string{"proto", "src", "sport", "dst", "dport", "netns"}

var (
	stagePackets   = desc("stage_packets_total", "IP packets that reached a stage (wire packets: GSO/GRO counted by segment).", "stage")
	stageBytes     = desc("stage_bytes_total", "IP bytes that reached a stage.", "stage")
	stageSkipped   = desc("stage_skipped_packets_total", "Frames a stage did not count in a flow, by why: filtered, not_ip, malformed, or run_missed (the kernel skipped the stage's program, already running on that CPU).", "stage", "why")
	netnsPackets   = desc("netns_stage_packets", "Packets per network namespace and stage, summed over the flows now in the table (falls when flows are evicted, hence a gauge).", "netns", "netns_name", "stage")
	drops          = desc("drops_total", "Kernel drops of flow packets by namespace, last stage passed and reason.", "netns", "netns_name", "stage", "reason")
	ifaceDrops     = desc("interface_drops_total", "Kernel drops of flow packets by the device the packet was on when freed (\"none\" if it had none), and reason.", "netns", "netns_name", "interface", "reason")
	unparsedDrops  = desc("unparsed_drops_total", "Kernel drops of packets that parse into no flow.", "kind", "reason")
	flowPackets    = desc("flow_stage_packets_total", "Per-stage packets of the top-K flow directions by loss.", append(flowLabels, "stage")...)
	flowLost       = desc("flow_lost_packets", "Largest loss along the path of each top-K flow direction.", append(flowLabels, "from", "to")...)
	flows          = desc("flows", "Flow directions in the flow table.")
	flowsCreated   = desc("flows_created_total", "Flow entries created.")
	flowsEvicted   = desc("flows_evicted_total", "Flow entries evicted from the full table (LRU).")
	overflow       = desc("overflow_total", "Counts the tables could not hold, by kind.", "kind")
	hookInfo       = desc("hook_info", "The hook each stage uses on this kernel (1 per hooked stage).", "stage", "hook")
	netnsHooked    = desc("netns_hooked", "Network namespaces the per-namespace (netfilter) hooks cover.")
	scrapeDuration = desc("scrape_duration_seconds", "Time to read the maps for the last scrape.")
	tcpRetrans     = desc("tcp_retransmitted_segments_total", "TCP segments retransmitted by senders in a namespace, by verdict: dropped_here (the previous copy was dropped on this host), beyond (it left the sender and no drop here explains it), unknown (not seen).", "netns", "netns_name", "verdict")
	tcpRedelivered = desc("tcp_redelivered_segments_total", "TCP segments received in a namespace again after this host dropped an earlier copy.", "netns", "netns_name")
	flowTCPRetrans = desc("flow_tcp_retransmitted_segments_total", "Retransmitted TCP segments by verdict of the top-K flow directions by retransmissions.", append(flowLabels, "verdict")...)
)

// Source is what the collector reads: a loaded tracer, or a fake in tests.
type Source interface {
	Snapshot() (*flow.Snapshot, error)
	Hooks() []hookplan.Hook
	NetnsHooked() int
}

// Options shape the exported series.
type Options struct {
	TopFlows int // per-flow series for this many flow directions, most loss first
	// MinInterval is the shortest time between two map reads: scrapes
	// closer together are served the last reading, so a scrape storm
	// costs no more than one reading per interval.
	MinInterval time.Duration
	Names       report.Namer
	NetnsNames  func() map[uint32]string
	// Ifname names a device of a namespace ("" if unknown); nil leaves
	// devices as ifN.
	Ifname func(netns, ifindex uint32) string
}

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	src  Source
	opts Options

	mu       sync.Mutex
	last     *report.Report
	lastAt   time.Time
	lastTook time.Duration
	nsNames  map[uint32]string
}

// NewCollector returns a collector; register it with a registry.
func NewCollector(src Source, opts Options) *Collector {
	if opts.NetnsNames == nil {
		opts.NetnsNames = func() map[uint32]string { return nil }
	}
	if opts.Ifname == nil {
		opts.Ifname = func(uint32, uint32) string { return "" }
	}
	return &Collector{src: src, opts: opts}
}

// Describe sends every descriptor the collector may emit.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{stagePackets, stageBytes, stageSkipped, netnsPackets, drops, ifaceDrops, unparsedDrops,
		flowPackets, flowLost, flows, flowsCreated, flowsEvicted, overflow, hookInfo, netnsHooked, scrapeDuration,
		tcpRetrans, tcpRedelivered, flowTCPRetrans} {
		ch <- d
	}
}

// read returns the current report, reading the maps at most once per
// MinInterval.
func (c *Collector) read() (*report.Report, map[uint32]string, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && time.Since(c.lastAt) < c.opts.MinInterval {
		return c.last, c.nsNames, c.lastTook, nil
	}
	start := time.Now()
	snap, err := c.src.Snapshot()
	if err != nil {
		return nil, nil, 0, err
	}
	c.last = report.Build(snap, c.src.Hooks(), c.opts.Names)
	c.last.NetnsHooked = c.src.NetnsHooked()
	c.nsNames = c.opts.NetnsNames()
	c.lastAt, c.lastTook = time.Now(), time.Since(start)
	return c.last, c.nsNames, c.lastTook, nil
}

// Collect reads the maps (or the cached reading) and emits every series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	r, nsNames, took, err := c.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(stagePackets, err)
		return
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	for _, h := range r.Hooks {
		gauge(hookInfo, 1, h.Stage, h.Hook)
	}
	for name, t := range r.Totals {
		counter(stagePackets, t.Packets, name)
		counter(stageBytes, t.Bytes, name)
		counter(stageSkipped, t.Filtered, name, "filtered")
		counter(stageSkipped, t.NotIP, name, "not_ip")
		counter(stageSkipped, t.Malformed, name, "malformed")
		counter(stageSkipped, t.RunsMissed, name, "run_missed")
	}
	gauge(netnsHooked, float64(r.NetnsHooked))
	gauge(scrapeDuration, took.Seconds())

	nsLabel := func(ns uint32) (string, string) {
		return strconv.FormatUint(uint64(ns), 10), nsNames[ns]
	}
	type nsStage struct {
		ns    uint32
		stage string
	}
	type nsDrop struct {
		ns            uint32
		stage, reason string
	}
	type ifDrop struct {
		ns, ifindex uint32
		reason      string
	}
	perNs := map[nsStage]uint64{}
	perDrop := map[nsDrop]uint64{}
	perIf := map[ifDrop]uint64{}
	perTCP := map[uint32]report.TCP{}
	for _, f := range r.Flows {
		for s, n := range f.StagePackets() {
			perNs[nsStage{f.Netns, s}] += n
		}
		if f.TCP != nil {
			perTCP[f.Netns] = addTCP(perTCP[f.Netns], f.TCP)
		}
		for _, d := range f.Drops {
			perDrop[nsDrop{f.Netns, d.Stage, d.Reason}] += d.Count
			perIf[ifDrop{f.Netns, d.Ifindex, d.Reason}] += d.Count
		}
	}
	for k, n := range perIf {
		id, name := nsLabel(k.ns)
		counter(ifaceDrops, n, id, name, c.ifname(k.ns, k.ifindex), k.reason)
	}
	for k, n := range perNs {
		id, name := nsLabel(k.ns)
		gauge(netnsPackets, float64(n), id, name, k.stage)
	}
	for k, n := range perDrop {
		id, name := nsLabel(k.ns)
		counter(drops, n, id, name, k.stage, k.reason)
	}
	for ns, t := range perTCP {
		id, name := nsLabel(ns)
		for verdict, n := range tcpVerdicts(&t) {
			counter(tcpRetrans, n, id, name, verdict)
		}
		counter(tcpRedelivered, t.RedeliveredAfterDropHere, id, name)
	}
	unparsed := map[[2]string]uint64{}
	for _, u := range r.Overflow.UnparsedDrops {
		unparsed[[2]string{u.Kind, u.Reason}] += u.Count
	}
	for k, n := range unparsed {
		counter(unparsedDrops, n, k[0], k[1])
	}

	o := r.Overflow
	gauge(flows, float64(r.FlowTableEntries))
	counter(flowsCreated, o.FlowsCreated)
	counter(flowsEvicted, o.EvictedFlows)
	for kind, v := range overflowByKind(o) {
		counter(overflow, v, kind)
	}
	c.collectTopFlows(ch, r)
	c.collectTopTCPFlows(ch, r)
}

func (c *Collector) ifname(ns, ifindex uint32) string {
	if ifindex == 0 {
		return "none"
	}
	if name := c.opts.Ifname(ns, ifindex); name != "" {
		return name
	}
	return fmt.Sprintf("if%d", ifindex)
}

// flowLabelValues are a flow direction's values of flowLabels.
func flowLabelValues(f *report.Flow) []string {
	return []string{f.Proto, f.Src, strconv.Itoa(int(f.Sport)), f.Dst, strconv.Itoa(int(f.Dport)),
		strconv.FormatUint(uint64(f.Netns), 10)}
}

// collectTopFlows emits per-flow series for the K flow directions with the
// most loss (the report is sorted that way); flows without loss are not
// exported, so a healthy host exports none.
func (c *Collector) collectTopFlows(ch chan<- prometheus.Metric, r *report.Report) {
	n := 0
	for i, f := range r.Flows {
		if n >= c.opts.TopFlows || f.Lost == nil {
			break
		}
		n++
		labels := flowLabelValues(&r.Flows[i])
		for s, n := range f.StagePackets() {
			ch <- prometheus.MustNewConstMetric(flowPackets, prometheus.CounterValue, float64(n), append(labels, s)...)
		}
		to := f.Lost.To
		if to == "" {
			to = "end"
		}
		ch <- prometheus.MustNewConstMetric(flowLost, prometheus.GaugeValue, float64(f.Lost.Packets), append(labels, f.Lost.From, to)...)
	}
}

// overflowByKind is dropspot_overflow_total's series: one per kind.
func overflowByKind(o report.Overflow) map[string]uint64 {
	return map[string]uint64{
		"flow_create_failed": o.FlowCreateFailed, "tx_done_unmatched": o.TxDoneUnmatched,
		"drops_unrecorded": o.DropsUnrecorded, "drops_evicted": o.DropsEvicted,
		"events_lost": o.EventsLost, "events_throttled": o.EventsThrottled,
		"in_flight_at_start": o.InFlightAtStart, "netns_unhooked": o.NetnsUnhooked, "nat_split": o.NATSplit,
		"drops_outside_window": o.DropsOutsideWindow, "netns_news_lost": o.NetnsNewsLost,
		"tcp_drops_unrecorded": o.TCPDropsUnrecorded, "tcp_drops_evicted": o.TCPDropsEvicted,
		"tcp_loss_unrecorded": o.TCPLossUnrecorded, "tcp_loss_evicted": o.TCPLossEvicted,
		"drop_runs_missed": o.DropRunsMissed, "retransmit_runs_missed": o.RetransmitRunsMissed,
	}
}

// SeriesBound is the most series a scrape can carry, for the docs: fixed
// families, per-namespace families and the top-K flows.
func SeriesBound(namespaces, interfaces, reasons, topFlows int) int {
	stages := int(stage.Count)
	return stages*6 + // stage packets, bytes, skipped x4
		stages + 2 + // hook info: the stages, drops and the TCP retransmission hook
		namespaces*stages + // per-namespace packets
		namespaces*stages*reasons + // drops
		interfaces*reasons + // drops per device
		2*reasons + // unparsed drops
		topFlows*(stages+1) + // per-flow
		namespaces*(len(verdicts)+1) + // TCP retransmissions by verdict, redeliveries
		topFlows*len(verdicts) + // per-flow TCP retransmissions
		3 + len(overflowByKind(report.Overflow{})) + 2 // flows, created, evicted, overflow kinds, netns_hooked, scrape duration
}
