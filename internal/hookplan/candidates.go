// Package hookplan decides, on the running kernel, which hook observes each
// stage. Every stage has candidates in preference order; the first whose
// programs load and whose links attach wins, and the reasons the others
// failed are kept for `dropspot doctor`.
package hookplan

import (
	"math"
	"strings"

	"github.com/dropspot/dropspot/internal/stage"
)

// Kind is a hook family.
type Kind string

const (
	Fentry     Kind = "fentry"
	Kprobe     Kind = "kprobe"
	Tracepoint Kind = "tp_btf"
	// RawTracepoint is a tracepoint without BTF types: arguments are read
	// with probe reads.
	RawTracepoint Kind = "raw_tp"
	Netfilter     Kind = "netfilter"
	CgroupSKB     Kind = "cgroup_skb"
)

// Probe is one program attached at one point. A candidate may need several
// (one stage, several kernel functions or tracepoints).
type Probe struct {
	Program string // program name in the BPF object
	// Target is the kernel function (fentry, kprobe), the tracepoint
	// (tp_btf) or the netfilter hook name.
	Target string
}

// Candidate is one way of observing a stage.
type Candidate struct {
	Stage  stage.Stage
	Kind   Kind
	Probes []Probe
	// Netfilter only: hook number and priority, both families.
	NFHook     uint32
	NFPriority int32
	// Requires names a stage that must be hooked first (tx.done reads
	// what the tx.xmit program remembers).
	Requires *stage.Stage
}

// Name is how a candidate is shown: "tp_btf/netif_receive_skb",
// "netfilter/LOCAL_IN@first", "fentry/ip_rcv+ipv6_rcv".
func (c Candidate) Name() string {
	targets := make([]string, len(c.Probes))
	for i, p := range c.Probes {
		targets[i] = p.Target
	}
	name := string(c.Kind) + "/" + strings.Join(targets, "+")
	if c.Kind == Netfilter {
		if c.NFPriority < 0 {
			name += "@first"
		} else {
			name += "@last"
		}
	}
	return name
}

// Netfilter hook numbers (same for IPv4 and IPv6) and the extreme
// priorities a BPF link may take (NF_IP_PRI_FIRST/LAST themselves are
// reserved).
const (
	nfPreRouting  = 0
	nfLocalIn     = 1
	nfForward     = 2
	nfLocalOut    = 3
	nfPostRouting = 4

	nfFirst = math.MinInt32 + 1
	nfLast  = math.MaxInt32 - 1
)

var nfHookNames = map[uint32]string{
	nfPreRouting: "PRE_ROUTING", nfLocalIn: "LOCAL_IN", nfForward: "FORWARD",
	nfLocalOut: "LOCAL_OUT", nfPostRouting: "POST_ROUTING",
}

// functionHooks gives a stage's fentry and kprobe candidates: one
// program (fe_<name> / kp_<name>) attached to every listed function.
func functionHooks(st stage.Stage, name string, funcs ...string) []Candidate {
	var fe, kp []Probe
	for _, f := range funcs {
		fe = append(fe, Probe{Program: "fe_" + name, Target: f})
		kp = append(kp, Probe{Program: "kp_" + name, Target: f})
	}
	return []Candidate{
		{Stage: st, Kind: Fentry, Probes: fe},
		{Stage: st, Kind: Kprobe, Probes: kp},
	}
}

func tracepoints(st stage.Stage, tps ...string) Candidate {
	c := Candidate{Stage: st, Kind: Tracepoint}
	for _, tp := range tps {
		c.Probes = append(c.Probes, Probe{Program: "tp_" + tp, Target: tp})
	}
	return c
}

func netfilter(st stage.Stage, prog string, hook uint32, prio int32) Candidate {
	return Candidate{Stage: st, Kind: Netfilter, NFHook: hook, NFPriority: prio,
		Probes: []Probe{{Program: prog, Target: nfHookNames[hook]}}}
}

// Candidates lists every stage's candidates in preference order: function
// hooks where the kernel allows them (the most precise points, the
// seed's), then tracepoints, netfilter links and cgroup_skb.
func Candidates() []Candidate {
	txXmit := stage.TxXmit
	var all []Candidate
	add := func(c ...Candidate) { all = append(all, c...) }

	add(functionHooks(stage.RxDriver, "rx_driver", "eth_type_trans")...)
	add(tracepoints(stage.RxDriver, "netif_rx", "napi_gro_receive_entry",
		"netif_receive_skb_entry", "netif_receive_skb_list_entry"))

	add(functionHooks(stage.RxCore, "rx_core", "__netif_receive_skb_core")...)
	add(tracepoints(stage.RxCore, "netif_receive_skb"))

	add(functionHooks(stage.IPRcv, "ip_rcv", "ip_rcv", "ipv6_rcv")...)
	add(netfilter(stage.IPRcv, "nf_ip_rcv", nfPreRouting, nfFirst))

	add(functionHooks(stage.IPLocalIn, "ip_local_in", "ip_local_deliver", "ip6_input")...)
	add(netfilter(stage.IPLocalIn, "nf_ip_local_in", nfLocalIn, nfFirst))

	add(functionHooks(stage.L4Rcv, "l4_rcv", "tcp_v4_rcv", "udp_rcv", "icmp_rcv",
		"tcp_v6_rcv", "udpv6_rcv", "icmpv6_rcv")...)
	add(netfilter(stage.L4Rcv, "nf_l4_rcv", nfLocalIn, nfLast))

	// cgroup_skb first: it runs where the socket filter does, for every
	// namespace, without function tracing; it needs 6.2+
	// (bpf_cast_to_kern_ctx). Older kernels: the filter function itself.
	add(Candidate{Stage: stage.SockRcv, Kind: CgroupSKB,
		Probes: []Probe{{Program: "cg_sock_rcv", Target: "ingress"}}})
	add(functionHooks(stage.SockRcv, "sock_rcv", "sk_filter_trim_cap")...)

	add(functionHooks(stage.IPForward, "ip_forward", "ip_forward", "ip6_forward")...)
	add(netfilter(stage.IPForward, "nf_ip_forward", nfForward, nfFirst))

	// No function hook for ip.local_out: ip_local_out is inlined into
	// callers in its own file on some kernels and TCPv6 never calls
	// ip6_local_out, so a hook there would miss packets silently (measured
	// on 6.1: 0 of 37 UDP datagrams). Without netfilter links (< 6.4) the
	// stage is unavailable rather than wrong.
	add(netfilter(stage.IPLocalOut, "nf_ip_local_out", nfLocalOut, nfFirst))

	add(functionHooks(stage.IPPostrouting, "ip_postrouting", "ip_output", "ip6_output")...)
	add(netfilter(stage.IPPostrouting, "nf_ip_postrouting", nfPostRouting, nfLast))

	add(tracepoints(stage.TxQueue, "net_dev_queue"))
	add(tracepoints(stage.TxXmit, "net_dev_start_xmit"))
	done := tracepoints(stage.TxDone, "net_dev_xmit")
	done.Requires = &txXmit
	add(done)

	// Drops: with the reason (5.17+), else location only.
	add(Candidate{Stage: stage.Drops, Kind: Tracepoint, Probes: []Probe{{Program: "tp_kfree_skb", Target: "kfree_skb"}}})
	add(Candidate{Stage: stage.Drops, Kind: Tracepoint, Probes: []Probe{{Program: "tp_kfree_skb_noreason", Target: "kfree_skb(no reason)"}}})

	// TCP retransmissions: with err (6.18+: failed attempts too, counted
	// when TcpRetransSegs counts them), else successful ones only; the
	// raw tracepoint where tp_btf cannot attach.
	add(Candidate{Stage: stage.TCPRetransmit, Kind: Tracepoint, Probes: []Probe{{Program: "tp_tcp_retransmit_skb", Target: "tcp_retransmit_skb"}}})
	add(Candidate{Stage: stage.TCPRetransmit, Kind: Tracepoint, Probes: []Probe{{Program: "tp_tcp_retransmit_skb_noerr", Target: "tcp_retransmit_skb(no err)"}}})
	add(Candidate{Stage: stage.TCPRetransmit, Kind: RawTracepoint, Probes: []Probe{{Program: "rtp_tcp_retransmit_skb", Target: "tcp_retransmit_skb"}}})
	return all
}
