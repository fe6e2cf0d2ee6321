// Package faults builds realistic network faults on purpose: a firewall
// rule, a tc filter, a shaping qdisc, a receiver that stopped reading,
// closed ports, corrupted packets, reverse-path filtering, expiring TTLs.
// `dropspot demo` and the drop tests use them to make drops whose cause
// is known.
//
// Each fault comes with a ground truth of its own, independent of
// dropspot: a counter in its BPF program, the qdisc's statistics, or the
// SNMP counters of the namespace that drops (Counters). Dropped reports
// it as packets dropped since the fault was built; Close removes the
// fault. Faults that are only traffic (closed ports, TTL 1, corrupted or
// spoofed packets) have a Watch* constructor for their ground truth and a
// sender (SendUDP, ConnectTCP, Injector).
//
// Everything is done with netlink, sockets and small BPF programs of this
// package (bpf/faults): no ip, tc, iptables or nft binary is needed, only
// root. Work that depends on the calling thread's network namespace
// (netfilter links, tcx links by ifindex, sysctls, sockets, /proc/net)
// runs on a locked OS thread inside the fault's namespace (Netns.Do); the
// caller's threads never change namespace.
//
// Packets on a veth are handled by the receiving namespace's backlog,
// possibly on another CPU after the sender has returned: poll a ground
// truth until it reaches what was sent rather than reading it once. And a
// link just made drops what it is given until the kernel has activated
// it: WaitLinkReady.
//
// What each fault makes a 6.18 kernel report (reason, freeing function)
// and the ground truth:
//
//	DropPort             NETFILTER_DROP  nf_hook_slow               BPF counter
//	DropForwardedPort    NETFILTER_DROP  nf_hook_slow               BPF counter
//	DropIngress          TC_INGRESS      __netif_receive_skb_core   BPF counter
//	Shape, overflowing   QDISC_DROP      __dev_queue_xmit           qdisc drops (also Udp.SndbufErrors)
//	ListenStuck          SOCKET_RCVBUFF  udp(v6)_queue_rcv_one_skb  Udp(6).RcvbufErrors
//	UDP to closed port   NO_SOCKET       __udp4/6_lib_rcv           WatchNoPorts: Udp(6).NoPorts
//	TCP to closed port   NO_SOCKET       tcp_v4/v6_rcv              WatchResets: Tcp.OutRsts
//	BadIPChecksum        IP_CSUM         ip_rcv_core                WatchChecksumErrors: IpExt.InCsumErrors
//	BadL4Checksum        UDP_CSUM        __udp4/6_lib_rcv           Udp(6).InCsumErrors
//	                     TCP_CSUM        tcp_v4/v6_rcv              Tcp.InCsumErrors
//	StrictRPFilter       IP_RPFILTER     ip_rcv_finish_core         TcpExt.IPReversePathFilter
//	TTL 1 via a router   IP_INHDR        ip_forward, ip6_forward    WatchHeaderErrors: Ip(6).InHdrErrors
package faults
