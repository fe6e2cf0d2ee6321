// Package stage names the points of the kernel network path dropspot
// counts at. The names are the interface: JSON, tables, metrics and docs use
// them. The numbering is the BPF side's (bpf/lib/stages.h).
package stage

import "fmt"

// Stage is one observation point on the path, numbered as in BPF.
type Stage int

// The stages in path order.
const (
	RxDriver Stage = iota
	RxCore
	IPRcv
	IPLocalIn
	L4Rcv
	SockRcv
	IPForward
	IPLocalOut
	IPPostrouting
	TxQueue
	TxXmit
	TxDone
	Count // number of stages, not a stage
)

// Drops is not a stage of the path: it is the drop hook's place in the hook
// plan and where drops seen before any hooked stage are put.
const Drops = Count

// TCPRetransmit is not a stage either: the place in the hook plan of the
// hook that sees TCP retransmissions (matched to drops, see
// bpf/lib/tcp_loss.h).
const TCPRetransmit = Count + 1

var names = [Count]string{
	RxDriver:      "rx.driver",
	RxCore:        "rx.core",
	IPRcv:         "ip.rcv",
	IPLocalIn:     "ip.local_in",
	L4Rcv:         "l4.rcv",
	SockRcv:       "sock.rcv",
	IPForward:     "ip.forward",
	IPLocalOut:    "ip.local_out",
	IPPostrouting: "ip.postrouting",
	TxQueue:       "tx.queue",
	TxXmit:        "tx.xmit",
	TxDone:        "tx.done",
}

var meanings = [Count]string{
	RxDriver:      "driver hands the packet to the stack (GRO / netif_rx / netif_receive_skb entry)",
	RxCore:        "core receive (__netif_receive_skb_core)",
	IPRcv:         "IP layer accepted the header (ip_rcv / ipv6_rcv, netfilter PRE_ROUTING first)",
	IPLocalIn:     "routed to this host (ip_local_deliver, netfilter LOCAL_IN first)",
	L4Rcv:         "handed to TCP/UDP/ICMP receive (netfilter LOCAL_IN last, or tcp_v4_rcv ...)",
	SockRcv:       "a socket was found and its filter passed, before queueing (cgroup_skb ingress)",
	IPForward:     "routed onwards (ip_forward, netfilter FORWARD first)",
	IPLocalOut:    "locally generated packet enters IP output (netfilter LOCAL_OUT first)",
	IPPostrouting: "leaves IP towards a device (netfilter POST_ROUTING last)",
	TxQueue:       "offered to the device's queue (net_dev_queue, before the qdisc may refuse it)",
	TxXmit:        "handed to the driver (net_dev_start_xmit)",
	TxDone:        "driver accepted it (net_dev_xmit, rc == 0)",
}

// String returns the stage's interface name, such as "ip.local_in".
func (s Stage) String() string {
	switch s {
	case Drops:
		return "drops"
	case TCPRetransmit:
		return "tcp.retransmit"
	}
	if s < 0 || s >= Count {
		return fmt.Sprintf("stage(%d)", int(s))
	}
	return names[s]
}

// Meaning is one line on what passing this stage means.
func (s Stage) Meaning() string {
	if s < 0 || s >= Count {
		return ""
	}
	return meanings[s]
}

// All returns every stage in path order.
func All() []Stage {
	all := make([]Stage, Count)
	for i := range all {
		all[i] = Stage(i)
	}
	return all
}

// Parse returns the stage with the given interface name.
func Parse(name string) (Stage, error) {
	for i, n := range names {
		if n == name {
			return Stage(i), nil
		}
	}
	return 0, fmt.Errorf("unknown stage %q", name)
}
