/* classify: parse an skb and decide, by the filter and -i, whether it is
 * counted. The verdict it returns is what every later step works on. */
#pragma once

#include "vmlinux.h"
#include "config.h"
#include "filter.h"
#include "flow.h"
#include "nat.h"

/* Outcome of classifying a packet at a stage, remembered by the transmit
 * hooks so tx.done can be counted without touching a freed skb. */
enum verdict {
	VERDICT_COUNTED = 1,
	VERDICT_FILTERED,
	VERDICT_NOT_IP,
	VERDICT_MALFORMED,
	VERDICT_OUTSIDE, /* outside the counting window: not counted */
};

/* classify parses an skb and decides whether it is counted. netns and
 * ifindex are the hook's own knowledge of the namespace and device
 * (netfilter, eth_type_trans), or 0 to read them off the skb. The key is
 * the packet's connection across NAT (nat.h); the filter passes it by
 * either tuple, so every stage decides alike before and after the
 * translation. */
static __always_inline enum verdict classify_skb(bool btf, struct sk_buff *skb, enum l3_at at, __u32 netns,
						 __u32 ifindex, struct flow_key *key, struct pkt_meta *meta)
{
	int ret = parse_skb(btf, skb, at, key, meta);

	if (ret == PARSE_NOT_IP)
		return VERDICT_NOT_IP;
	if (ret != PARSE_OK)
		return VERDICT_MALFORMED;
	key->netns = netns ? netns : skb_netns(btf, skb);
	meta->nat = nat_resolve(btf, skb, key);
	if (CFG.filter_ifindex) {
		/* -i: the device the packet is on at this stage; none (local
		 * output before routing, a freed skb) does not match. */
		if (!ifindex)
			ifindex = KREAD(btf, skb->dev->ifindex, skb, dev, ifindex);
		if (ifindex != CFG.filter_ifindex)
			return VERDICT_FILTERED;
	}
	if (filter_match(key))
		return VERDICT_COUNTED;
	if (!(meta->nat & (NAT_DNAT | NAT_SNAT)) || !nat_xlat_match())
		return VERDICT_FILTERED;
	meta->nat |= NAT_BY_XLAT;
	return VERDICT_COUNTED;
}

/* classify for hooks holding a BTF-typed skb (all but kprobes). */
static __always_inline enum verdict classify(struct sk_buff *skb, enum l3_at at, __u32 netns, __u32 ifindex,
					     struct flow_key *key, struct pkt_meta *meta)
{
	return classify_skb(true, skb, at, netns, ifindex, key, meta);
}
