// Package faults builds realistic network faults on purpose: a firewall
// rule, a tc filter, a shaping qdisc, a full socket buffer, closed ports,
// bad checksums, reverse-path filtering, expiring TTLs. `dropspot demo` and
// the drop tests use them to make drops whose cause is known.
//
// Each fault comes with a ground truth of its own, independent of dropspot:
// a counter in its BPF program, the qdisc's statistics, or the SNMP
// counters of the namespace that drops (see Counters). Dropped reports it
// as the number of packets dropped since the fault was built; Close removes
// the fault.
//
// Everything is done with netlink, sockets and small BPF programs of this
// package (bpf/faults): no ip, tc, iptables or nft binary is needed, only
// root. Work that depends on the calling thread's network namespace
// (netfilter links, tcx links by ifindex, sysctls, sockets, /proc/net) runs
// on a locked OS thread inside the fault's namespace (Netns.Do); the
// caller's threads never change namespace.
//
// What each fault makes the kernel report (6.18):
//
//	fault                 kernel reason    freed in           ground truth
//	DropPort              NETFILTER_DROP   nf_hook_slow       BPF counter
//	DropIngress           TC_INGRESS       __netif_receive_skb_core  BPF counter
//	Shape (overflowing)   QDISC_DROP       __dev_queue_xmit   qdisc drops (netlink)
//	ListenStuck           SOCKET_RCVBUFF   UDP receive        Udp(6).RcvbufErrors
//	closed UDP port       NO_SOCKET        __udp4/6_lib_rcv   Udp(6).NoPorts
//	closed TCP port       NO_SOCKET        tcp_v4/v6_rcv      Tcp.OutRsts
//	bad checksums         IP_CSUM, UDP_CSUM, TCP_CSUM          IpExt/Udp(6)/Tcp InCsumErrors
//	StrictRPFilter        IP_RPFILTER      ip_rcv_finish      TcpExt.IPReversePathFilter
//	TTL 1 through router  IP_INHDR         ip_forward/ip6_forward  Ip(6).InHdrErrors
package faults
