/* count_stage: parse an skb, apply the filter and the counting window, add
 * it to its flow and to the stage totals. Every hook family ends here. */
#pragma once

#include "vmlinux.h"
#include "classify.h"
#include "flow_table.h"
#include "ptr_addr.h"
#include "tcp_loss.h"
#include "window.h"

/* admit_in_window applies the counting window to a classified packet: a flow
 * packet (addr: its ptr_addr, read only for those) follows its path's
 * admission, anything else the window's state. */
static __always_inline enum verdict admit_in_window(__u64 addr, enum stage st, enum verdict v,
						    const struct flow_key *key, const struct pkt_meta *meta)
{
	if (v == VERDICT_COUNTED)
		return path_admits(addr, st, key, meta->segs, meta->nat) ? v : VERDICT_OUTSIDE;
	return window_admits_untracked(0) ? v : VERDICT_OUTSIDE;
}

/* count_stage_skb: btf as in KREAD. */
static __always_inline void count_stage_skb(bool btf, struct sk_buff *skb, enum stage st, enum l3_at at,
					    __u32 netns, __u32 ifindex)
{
	struct flow_key key = {};
	struct pkt_meta meta = {};
	enum verdict v = classify_skb(btf, skb, at, netns, ifindex, &key, &meta);

	v = admit_in_window(v == VERDICT_COUNTED ? ptr_addr(skb) : 0, st, v, &key, &meta);
	count_verdict(st, v, &key, &meta);
	if (v == VERDICT_COUNTED)
		tcp_note_stage(btf, skb, st, &key, &meta);
}

/* count_stage: for hooks holding a BTF-typed skb (tracepoints, fentry,
 * netfilter, cgroup_skb). */
static __always_inline void count_stage(struct sk_buff *skb, enum stage st, enum l3_at at, __u32 netns,
					__u32 ifindex)
{
	count_stage_skb(true, skb, st, at, netns, ifindex);
}

/* count_stage_probe: for kprobes, whose skb is a plain address. */
static __always_inline void count_stage_probe(struct sk_buff *skb, enum stage st, enum l3_at at, __u32 netns,
					      __u32 ifindex)
{
	count_stage_skb(false, skb, st, at, netns, ifindex);
}
