package dropreason

// explanations: what a reason means and the usual next step, in one
// sentence each. Reasons not listed still show by name.
var explanations = map[string]string{
	"NOT_SPECIFIED":           "The kernel gave no reason, and dropspot does not know this location: the cause is unknown — the kernel source at the location tells.",
	"NO_SOCKET":               "No socket listens on the destination port (closed port, or the service is down/bound elsewhere) — check the listener and its bind address.",
	"SOCKET_RCVBUFF":          "The socket's receive buffer was full: the application reads slower than packets arrive — read faster, or raise SO_RCVBUF / net.core.rmem_max.",
	"SOCKET_FILTER":           "A socket filter (SO_ATTACH_FILTER, cgroup BPF) rejected the packet — check BPF programs on the socket or its cgroup.",
	"NETFILTER_DROP":          "A firewall rule (iptables/nftables/netfilter BPF) dropped it — list the ruleset of the namespace (nft list ruleset, iptables -S).",
	"IP_CSUM":                 "Bad IPv4 header checksum — corrupted on the wire or by a NIC/driver; check link errors and offload settings.",
	"UDP_CSUM":                "Bad UDP checksum — corrupted in transit or a broken checksum offload on the sender.",
	"TCP_CSUM":                "Bad TCP checksum — corrupted in transit or a broken checksum offload on the sender.",
	"IP_INHDR":                "Invalid IP header, or TTL expired while forwarding — look for routing loops or a too-small TTL.",
	"IP_RPFILTER":             "Reverse-path filter: the source is not reachable back through the receiving interface — fix routing or relax net.ipv4.conf.*.rp_filter.",
	"IP_NOPROTO":              "No handler for this IP protocol — the protocol module is not loaded or the traffic is unexpected.",
	"OTHERHOST":               "The packet was for another host's MAC address (promiscuous capture) — usually harmless.",
	"TC_INGRESS":              "A tc/tcx ingress program or action dropped it — list them with tc filter show / bpftool net.",
	"TC_EGRESS":               "A tc/tcx egress program or action dropped it — list them with tc filter show / bpftool net.",
	"XDP_DROP":                "An XDP program dropped it — list XDP programs with ip link / bpftool net.",
	"QDISC_DROP":              "The device's queueing discipline was full (shaping or a queue limit) — the sender outruns the shaped rate; raise the limit or slow down.",
	"TCP_FLAGS":               "TCP segment with invalid flags for the connection state.",
	"TCP_OLD_DATA":            "TCP data already received (a retransmission of acknowledged data) — usually a sign of earlier loss or reordering.",
	"TCP_INVALID_SEQUENCE":    "TCP segment outside the receive window.",
	"TCP_RESET":               "The connection was reset; segments for it are dropped.",
	"TCP_CLOSE":               "Segment for a closed TCP connection.",
	"TCP_OFOMERGE":            "Out-of-order TCP segment merged into data already queued.",
	"TCP_ZEROWINDOW":          "The receiver advertised a zero window: the application is not reading.",
	"PROTO_MEM":               "Protocol memory limit reached (net.ipv4.tcp_mem / udp_mem) — the host is under socket-memory pressure.",
	"SOCKET_BACKLOG":          "The socket's backlog was full while the socket was busy — the application holds the socket lock too long or reads too slowly.",
	"NEIGH_FAILED":            "Neighbour (ARP/ND) resolution failed — the next hop does not answer.",
	"NEIGH_QUEUEFULL":         "Too many packets waiting for neighbour resolution — the next hop is slow to answer ARP/ND.",
	"IP_OUTNOROUTES":          "No route to the destination — check the routing table of the namespace.",
	"IP_NOROUTES":             "No route for the packet — check the routing table of the namespace.",
	"PKT_TOO_SMALL":           "Packet shorter than its headers claim — truncated on the wire or malformed.",
	"PKT_TOO_BIG":             "Packet larger than the MTU and not allowed to fragment.",
	"DEV_READY":               "The device was down or not ready.",
	"FULL_RING":               "The driver's ring or the peer's queue was full (veth: the peer is not reading fast enough).",
	"CPU_BACKLOG":             "The per-CPU backlog (net.core.netdev_max_backlog) was full — raise it or spread receive load (RPS).",
	"UNICAST_IN_L2_MULTICAST": "Unicast IP in an L2 multicast/broadcast frame — dropped by policy.",
	"ICMP_CSUM":               "Bad ICMP checksum.",
	"IPV6DISABLED":            "IPv6 is disabled on the interface.",
	"SKB_UCOPY_FAULT":         "Copying to the application failed.",
	"DUP_FRAG":                "Duplicate IP fragment.",
	"FRAG_REASM_TIMEOUT":      "IP fragments were not all received in time.",
	"XFRM_POLICY":             "IPsec (xfrm) policy rejected the packet.",
}

// unknownCause is what is said of a reason the table does not cover:
// plainly that it is unexplained, and where to look.
const unknownCause = "dropspot has no explanation of this reason: its cause is unknown here — " +
	"the kernel's enum skb_drop_reason (include/net/dropreason-core.h) describes it."

// Explain gives one sentence on a reason; for one the table does not
// cover, that its cause is unknown.
func Explain(reason string) string {
	if e, ok := explanations[reason]; ok {
		return e
	}
	return unknownCause
}
