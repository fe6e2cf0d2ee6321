package dropreason

import (
	"strings"

	"github.com/dropspot/dropspot/internal/stage"
)

// byLocation tells what a drop is from the function that freed it.
// reason serves drops the kernel gives no reason for (NOT_SPECIFIED, or
// kernels before 5.17); at is the last stage such a packet passed, for
// drops whose stage BPF could not tell (freed in a timer, or after its
// record of the packet was gone), where the function tells it. Prefixes,
// first match wins.
var byLocation = []struct {
	prefix string
	reason string // "" = the function alone does not tell why
	at     place
}{
	// A firewall runs at every netfilter hook: the function does not
	// tell which.
	{"nf_hook_slow", "NETFILTER_DROP", unknown},
	{"nft_do_chain", "NETFILTER_DROP", unknown},
	{"ipt_do_table", "NETFILTER_DROP", unknown},
	{"ip6t_do_table", "NETFILTER_DROP", unknown},
	{"do_xdp_generic", "XDP_DROP", after(stage.RxDriver)},
	{"netif_receive_generic_xdp", "XDP_DROP", after(stage.RxDriver)},
	{"veth_xdp_rcv", "XDP_DROP", after(stage.RxDriver)},
	{"bpf_prog_run_generic_xdp", "XDP_DROP", after(stage.RxDriver)},
	{"sch_handle_ingress", "TC_INGRESS", after(stage.RxCore)},
	{"tcf_classify", "TC_INGRESS", after(stage.RxCore)},
	{"sch_handle_egress", "TC_EGRESS", after(stage.TxQueue)},
	{"__dev_queue_xmit", "QDISC_DROP", after(stage.TxQueue)},
	{"dev_qdisc_enqueue", "QDISC_DROP", after(stage.TxQueue)},
	{"qdisc_", "QDISC_DROP", after(stage.TxQueue)},
	{"__netif_receive_skb_core", "", after(stage.RxCore)},
	// The header checks: a function hook on ip_rcv runs before them,
	// netfilter's PRE_ROUTING after.
	{"ip_rcv_core", "", after(stage.RxCore).orAtFunction(stage.IPRcv, stage.IPRcv)},
	{"ip6_rcv_core", "", after(stage.RxCore).orAtFunction(stage.IPRcv, stage.IPRcv)},
	{"ip_rcv_finish", "", after(stage.IPRcv)},
	{"ip6_rcv_finish", "", after(stage.IPRcv)},
	// Forwarding checks (TTL, MTU) come before netfilter's FORWARD hook
	// and after a function hook on ip_forward.
	{"ip_forward", "", after(stage.IPRcv).orAtFunction(stage.IPForward, stage.IPForward)},
	{"ip6_forward", "", after(stage.IPRcv).orAtFunction(stage.IPForward, stage.IPForward)},
	// IPv4 reassembly, in its timer too: in PRE_ROUTING (conntrack's
	// defragmentation, priority -400) or in ip_local_deliver before
	// LOCAL_IN — after ip.rcv either way with netfilter hooks. A
	// function hook on ip_local_deliver runs before the second but
	// after the first: then the function cannot tell. The queues'
	// purge (inet_frag_*) is shared with IPv6, whose reassembly differs.
	{"ip_expire", "", after(stage.IPRcv).orAtFunction(stage.IPLocalIn, stage.Drops)},
	{"ip_defrag", "", after(stage.IPRcv).orAtFunction(stage.IPLocalIn, stage.Drops)},
	{"ip_frag_queue", "", after(stage.IPRcv).orAtFunction(stage.IPLocalIn, stage.Drops)},
	{"ip_frag_reasm", "", after(stage.IPRcv).orAtFunction(stage.IPLocalIn, stage.Drops)},
	{"inet_frag_", "", after(stage.IPRcv).orAtFunction(stage.IPLocalIn, stage.Drops).v4Only()},
	// IPv6 reassembly is the fragment header's protocol handler, after
	// netfilter's LOCAL_IN (l4.rcv is its last priority) but before
	// tcp_v6_rcv/udpv6_rcv; conntrack's (nf_ct_frag6) is in PRE_ROUTING.
	{"ip6_frag_expire", "", after(stage.L4Rcv).orAtFunction(stage.L4Rcv, stage.IPLocalIn)},
	{"ip6_frag_queue", "", after(stage.L4Rcv).orAtFunction(stage.L4Rcv, stage.IPLocalIn)},
	{"ip6_frag_reasm", "", after(stage.L4Rcv).orAtFunction(stage.L4Rcv, stage.IPLocalIn)},
	{"ipv6_frag_rcv", "", after(stage.L4Rcv).orAtFunction(stage.L4Rcv, stage.IPLocalIn)},
	{"nf_ct_frag6_", "", after(stage.IPRcv)},
	{"__udp4_lib_rcv", "", after(stage.L4Rcv)},
	{"__udp6_lib_rcv", "", after(stage.L4Rcv)},
	{"tcp_v4_rcv", "", after(stage.L4Rcv)},
	{"tcp_v6_rcv", "", after(stage.L4Rcv)},
	{"icmp_rcv", "", after(stage.L4Rcv)},
	{"icmpv6_rcv", "", after(stage.L4Rcv)},
	{"ping_rcv", "", after(stage.L4Rcv)},
	// After the socket's filter (sock.rcv): queueing, TCP's state
	// machine, and the socket's queues freed with it.
	{"__udp_enqueue_schedule_skb", "", after(stage.SockRcv)},
	{"udp_queue_rcv_one_skb", "", after(stage.SockRcv)},
	{"udpv6_queue_rcv_one_skb", "", after(stage.SockRcv)},
	{"sock_queue_rcv_skb", "", after(stage.SockRcv)},
	{"tcp_v4_do_rcv", "", after(stage.SockRcv)},
	{"tcp_v6_do_rcv", "", after(stage.SockRcv)},
	{"tcp_rcv_", "", after(stage.SockRcv)},
	{"tcp_validate_incoming", "", after(stage.SockRcv)},
	{"tcp_data_queue", "", after(stage.SockRcv)},
	{"sk_stream_kill_queues", "", after(stage.SockRcv)},
	{"udp_destruct_common", "", after(stage.SockRcv)},
	{"inet_sock_destruct", "", after(stage.SockRcv)},
	// Neighbour resolution (ARP, ND), in its timer too: after
	// POST_ROUTING and after ip_output's entry alike.
	{"ip_finish_output2", "", after(stage.IPPostrouting)},
	{"ip6_finish_output2", "", after(stage.IPPostrouting)},
	{"neigh_", "", after(stage.IPPostrouting)},
	{"__neigh_", "", after(stage.IPPostrouting)},
	{"arp_error_report", "", after(stage.IPPostrouting)},
	{"ndisc_error_report", "", after(stage.IPPostrouting)},
}

// place is the last stage a packet freed at a location passed. Where a
// stage's function hook (fentry/kprobe, at a kernel function's entry)
// and its netfilter hook lie on either side of the location, it depends
// on the plan: with fnStage observed at a function, the last stage is
// fnAfter instead.
type place struct {
	stage            stage.Stage // stage.Drops: cannot tell
	fnStage, fnAfter stage.Stage
	v4               bool // the location tells only for IPv4
}

var unknown = after(stage.Drops)

func after(s stage.Stage) place { return place{stage: s, fnStage: stage.Drops} }

func (p place) orAtFunction(observed, last stage.Stage) place {
	p.fnStage, p.fnAfter = observed, last
	return p
}

func (p place) v4Only() place {
	p.v4 = true
	return p
}

// Context is what FromLocation needs to know besides the function: the
// packet's IP version and the hook plan.
type Context struct {
	V6 bool // an IPv6 packet
	// AtFunction tells whether the plan observes a stage at a kernel
	// function's entry (fentry, kprobe) rather than at a netfilter hook
	// or tracepoint; nil means never.
	AtFunction func(stage.Stage) bool
}

// Unspecified reports whether the kernel said nothing useful.
func Unspecified(reason string) bool {
	return reason == "" || reason == "NOT_SPECIFIED"
}

// FromLocation classifies a drop by the function that freed it: the
// reason it stands for ("" if the function does not tell) and the last
// stage such drops passed (stage.Drops if it cannot tell). ok is false
// when the function is not known.
func FromLocation(fn string, c Context) (reason string, st stage.Stage, ok bool) {
	for _, l := range byLocation {
		if strings.HasPrefix(fn, l.prefix) {
			return l.reason, l.at.of(c), true
		}
	}
	return "", 0, false
}

func (p place) of(c Context) stage.Stage {
	switch {
	case p.v4 && c.V6:
		return stage.Drops
	case p.fnStage != stage.Drops && c.AtFunction != nil && c.AtFunction(p.fnStage):
		return p.fnAfter
	}
	return p.stage
}
