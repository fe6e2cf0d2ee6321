package dropreason

import (
	"strings"

	"github.com/dropspot/dropspot/internal/stage"
)

// byLocation tells what a drop is from the function that freed the packet.
// reason serves drops the kernel gives no reason for (NOT_SPECIFIED, or
// kernels before 5.17); stage is the last stage such a packet passed, for
// drops whose stage the per-CPU record could not tell, where the function
// alone tells it whatever hooks the plan chose (stage.Drops: it does not —
// a firewall runs at every netfilter hook, ip_forward drops before or
// after ip.forward depending on the hook). Prefixes, first match wins.
var byLocation = []struct {
	prefix string
	reason string // "" = the function alone does not tell why
	stage  stage.Stage
}{
	{"nf_hook_slow", "NETFILTER_DROP", stage.Drops},
	{"nft_do_chain", "NETFILTER_DROP", stage.Drops},
	{"ipt_do_table", "NETFILTER_DROP", stage.Drops},
	{"ip6t_do_table", "NETFILTER_DROP", stage.Drops},
	{"do_xdp_generic", "XDP_DROP", stage.RxDriver},
	{"netif_receive_generic_xdp", "XDP_DROP", stage.RxDriver},
	{"veth_xdp_rcv", "XDP_DROP", stage.RxDriver},
	{"bpf_prog_run_generic_xdp", "XDP_DROP", stage.RxDriver},
	{"sch_handle_ingress", "TC_INGRESS", stage.RxCore},
	{"tcf_classify", "TC_INGRESS", stage.RxCore},
	{"sch_handle_egress", "TC_EGRESS", stage.TxQueue},
	{"__dev_queue_xmit", "QDISC_DROP", stage.TxQueue},
	{"dev_qdisc_enqueue", "QDISC_DROP", stage.TxQueue},
	{"qdisc_", "QDISC_DROP", stage.TxQueue},
	{"__netif_receive_skb_core", "", stage.RxCore},
	{"ip_rcv_core", "", stage.RxCore},
	{"ip6_rcv_core", "", stage.RxCore},
	{"ip_rcv_finish", "", stage.IPRcv},
	{"ip6_rcv_finish", "", stage.IPRcv},
	{"ip_forward", "", stage.Drops},
	{"ip6_forward", "", stage.Drops},
	{"__udp4_lib_rcv", "", stage.L4Rcv},
	{"__udp6_lib_rcv", "", stage.L4Rcv},
	{"tcp_v4_rcv", "", stage.L4Rcv},
	{"tcp_v6_rcv", "", stage.L4Rcv},
	{"icmp_rcv", "", stage.L4Rcv},
	{"icmpv6_rcv", "", stage.L4Rcv},
	{"__udp_enqueue_schedule_skb", "", stage.SockRcv},
	{"udp_queue_rcv_one_skb", "", stage.SockRcv},
	{"udpv6_queue_rcv_one_skb", "", stage.SockRcv},
	{"sock_queue_rcv_skb", "", stage.SockRcv},
	{"tcp_data_queue", "", stage.SockRcv},
}

// Unspecified reports whether the kernel said nothing useful.
func Unspecified(reason string) bool {
	return reason == "" || reason == "NOT_SPECIFIED"
}

// FromLocation classifies a drop by the function that freed it: the
// reason it stands for ("" if the function does not tell) and the last
// stage such drops passed (stage.Drops if it cannot tell). ok is false
// when the function is not known.
func FromLocation(fn string) (reason string, st stage.Stage, ok bool) {
	for _, l := range byLocation {
		if strings.HasPrefix(fn, l.prefix) {
			return l.reason, l.stage, true
		}
	}
	return "", 0, false
}
