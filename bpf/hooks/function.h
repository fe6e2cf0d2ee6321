/* Function hooks, the seed's observation points: fentry where the kernel
 * allows BPF trampolines, else kprobes. The loader picks the target
 * function per kernel (names differ: gro_receive_skb, .constprop copies)
 * and sets it before load (fentry) or attach (kprobe); the section names
 * below are only defaults. Each macro makes the fentry and the kprobe
 * variant of one stage for one argument shape. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../lib/count.h"
#include "../lib/bridge.h"

/* (struct sk_buff *skb, ...) with the network header set. */
#define FUNC_HOOK_SKB_ARG0(name, fn, st)                                                           \
	SEC("fentry/" #fn)                                                                         \
	int BPF_PROG(fe_##name, struct sk_buff *skb)                                               \
	{                                                                                          \
		count_stage(skb, st, L3_AT_NETHDR, 0, 0);                                             \
		return 0;                                                                          \
	}                                                                                          \
	SEC("kprobe/" #fn)                                                                         \
	int BPF_KPROBE(kp_##name, struct sk_buff *skb)                                             \
	{                                                                                          \
		count_stage_probe(skb, st, L3_AT_NETHDR, 0, 0);                                             \
		return 0;                                                                          \
	}

/* (struct sock *sk, struct sk_buff *skb, ...): socket receive filter. */
#define FUNC_HOOK_SKB_ARG1(name, fn, st)                                                           \
	SEC("fentry/" #fn)                                                                         \
	int BPF_PROG(fe_##name, struct sock *sk, struct sk_buff *skb)                              \
	{                                                                                          \
		count_stage(skb, st, L3_AT_NETHDR, 0, 0);                                             \
		return 0;                                                                          \
	}                                                                                          \
	SEC("kprobe/" #fn)                                                                         \
	int BPF_KPROBE(kp_##name, struct sock *sk, struct sk_buff *skb)                            \
	{                                                                                          \
		count_stage_probe(skb, st, L3_AT_NETHDR, 0, 0);                                             \
		return 0;                                                                          \
	}

/* (struct net *net, struct sock *sk, struct sk_buff *skb): IP output. */
#define FUNC_HOOK_SKB_ARG2(name, fn, st)                                                           \
	SEC("fentry/" #fn)                                                                         \
	int BPF_PROG(fe_##name, struct net *net, struct sock *sk, struct sk_buff *skb)             \
	{                                                                                          \
		count_stage(skb, st, L3_AT_NETHDR, net->ns.inum, 0);                   \
		return 0;                                                                          \
	}                                                                                          \
	SEC("kprobe/" #fn)                                                                         \
	int BPF_KPROBE(kp_##name, struct net *net, struct sock *sk, struct sk_buff *skb)           \
	{                                                                                          \
		count_stage_probe(skb, st, L3_AT_NETHDR, BPF_CORE_READ(net, ns.inum), 0);                   \
		return 0;                                                                          \
	}

/* eth_type_trans(skb, dev): data still points at the Ethernet header and
 * skb->dev is not yet the receiving device. */
SEC("fentry/eth_type_trans")
int BPF_PROG(fe_rx_driver, struct sk_buff *skb, struct net_device *dev)
{
	count_stage(skb, STAGE_RX_DRIVER, L3_AT_MAC, dev_netns(true, dev), dev->ifindex);
	return 0;
}

SEC("kprobe/eth_type_trans")
int BPF_KPROBE(kp_rx_driver, struct sk_buff *skb, struct net_device *dev)
{
	count_stage_probe(skb, STAGE_RX_DRIVER, L3_AT_MAC, dev_netns(false, dev), BPF_CORE_READ(dev, ifindex));
	return 0;
}

/* __netif_receive_skb_core(struct sk_buff **pskb, ...): the header is
 * reset inside, so the IP header is still at data. */
static __always_inline void count_pskb(struct sk_buff **pskb)
{
	struct sk_buff *skb;

	/* Read through a pointer: a plain address, not a typed pointer. */
	if (bpf_probe_read_kernel(&skb, sizeof(skb), pskb) || !skb)
		return;
	if (dev_is_bridge(false, BPF_CORE_READ(skb, dev))) /* counted on the port */
		return;
	count_stage_probe(skb, STAGE_RX_CORE, L3_AT_DATA, 0, 0);
}

SEC("fentry/__netif_receive_skb_core")
int BPF_PROG(fe_rx_core, struct sk_buff **pskb)
{
	count_pskb(pskb);
	return 0;
}

SEC("kprobe/__netif_receive_skb_core")
int BPF_KPROBE(kp_rx_core, struct sk_buff **pskb)
{
	count_pskb(pskb);
	return 0;
}

FUNC_HOOK_SKB_ARG0(ip_rcv, ip_rcv, STAGE_IP_RCV)
FUNC_HOOK_SKB_ARG0(ip_local_in, ip_local_deliver, STAGE_IP_LOCAL_IN)
FUNC_HOOK_SKB_ARG0(l4_rcv, tcp_v4_rcv, STAGE_L4_RCV)
FUNC_HOOK_SKB_ARG1(sock_rcv, sk_filter_trim_cap, STAGE_SOCK_RCV)
FUNC_HOOK_SKB_ARG0(ip_forward, ip_forward, STAGE_IP_FORWARD)
FUNC_HOOK_SKB_ARG2(ip_postrouting, ip_output, STAGE_IP_POSTROUTING)
