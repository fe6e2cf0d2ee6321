/* Tracepoint hooks (tp_btf): the stable interface, present on every
 * kernel with BTF, seeing every namespace. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../lib/count.h"
#include "../lib/bridge.h"

/* count_rx counts a received frame, unless a bridge is passing it up to
 * its own stack from the port where it was counted already. Such a frame
 * enters ip_rcv next; if br_netfilter ran its PRE_ROUTING on the port,
 * that is the only place left to count ip.rcv, as the kernel skips the
 * netfilter hook this time. One count_stage call site: two inlined ones
 * do not fit the stack. */
static __always_inline void count_rx(struct sk_buff *skb, enum stage st)
{
	if (dev_is_bridge(true, skb->dev)) {
		if (st != STAGE_RX_CORE || !brnf_prerouting_ran(skb))
			return;
		st = STAGE_IP_RCV;
	}
	count_stage(skb, st, L3_AT_DATA, 0, 0);
}

/* rx.driver: the driver hands the packet to the stack. Drivers use one of
 * these entry points per packet, so together they count each packet once. */
SEC("tp_btf/netif_rx")
int BPF_PROG(tp_netif_rx, struct sk_buff *skb)
{
	count_rx(skb, STAGE_RX_DRIVER);
	return 0;
}

SEC("tp_btf/napi_gro_receive_entry")
int BPF_PROG(tp_napi_gro_receive_entry, struct sk_buff *skb)
{
	count_rx(skb, STAGE_RX_DRIVER);
	return 0;
}

SEC("tp_btf/netif_receive_skb_entry")
int BPF_PROG(tp_netif_receive_skb_entry, struct sk_buff *skb)
{
	count_rx(skb, STAGE_RX_DRIVER);
	return 0;
}

SEC("tp_btf/netif_receive_skb_list_entry")
int BPF_PROG(tp_netif_receive_skb_list_entry, struct sk_buff *skb)
{
	count_rx(skb, STAGE_RX_DRIVER);
	return 0;
}

/* rx.core: fires inside __netif_receive_skb_core, before protocol handlers. */
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(tp_netif_receive_skb, struct sk_buff *skb)
{
	count_rx(skb, STAGE_RX_CORE);
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(tp_net_dev_queue, struct sk_buff *skb)
{
	if (dev_is_bridge(true, skb->dev)) /* counted on the port */
		return 0;
	count_stage(skb, STAGE_TX_QUEUE, L3_AT_NETHDR, 0, 0);
	bridge_tx(skb);
	return 0;
}

static __always_inline struct tx_inflight *tx_slot(__u64 skb)
{
	/* skbs are slab objects: the low bits carry no information. */
	__u32 idx = (skb >> 8) % TX_SLOTS;

	return bpf_map_lookup_elem(&tx_inflight, &idx);
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(tp_net_dev_start_xmit, struct sk_buff *skb)
{
	__u64 addr;
	struct tx_inflight *slot;
	struct flow_key key = {};
	struct pkt_meta meta = {};
	enum verdict v;

	/* The port's start_xmit nests inside and takes the same slot. */
	if (dev_is_bridge(true, skb->dev))
		return 0;
	addr = ptr_addr(skb);
	slot = tx_slot(addr);
	v = classify(skb, L3_AT_NETHDR, 0, 0, &key, &meta);
	v = admit_in_window(addr, STAGE_TX_XMIT, v, &key, &meta);
	count_verdict(STAGE_TX_XMIT, v, &key, &meta);
	if (slot) {
		slot->skb = addr;
		slot->verdict = v;
		slot->key = key;
		slot->meta = meta;
	}
	return 0;
}

SEC("tp_btf/net_dev_xmit")
int BPF_PROG(tp_net_dev_xmit, struct sk_buff *skb, int rc, struct net_device *dev)
{
	__u64 addr = ptr_addr(skb);
	struct tx_inflight *slot = tx_slot(addr);

	if (rc != 0) /* NETDEV_TX_BUSY etc.: the driver did not take it */
		return 0;
	/* The bridge's verdict comes after its port's, which matched the
	 * slot already (dev, unlike skb, is safe to read). */
	if (dev_is_bridge(true, dev))
		return 0;
	if (!slot || slot->skb != addr) {
		counter_inc(COUNTER_TX_DONE_UNMATCHED);
		return 0;
	}
	count_verdict(STAGE_TX_DONE, slot->verdict, &slot->key, &slot->meta);
	if (slot->verdict == VERDICT_COUNTED)
		path_moved(addr, STAGE_TX_DONE, slot->key.netns);
	return 0;
}
