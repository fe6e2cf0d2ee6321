/* Netfilter BPF links (6.4+): one program per stage, attached at the first
 * or last priority of a hook in every network namespace. They only observe:
 * the verdict is always NF_ACCEPT. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "../lib/count.h"
#include "../lib/bridge.h"

#define NF_ACCEPT 1

static __always_inline int nf_count(struct bpf_nf_ctx *ctx, enum stage st)
{
	struct sk_buff *skb = ctx->skb;
	__u32 netns = ctx->state->net->ns.inum;
	/* The device the hook is about: in on receive, out on output
	 * (LOCAL_OUT knows it from the route before skb->dev is set). */
	struct net_device *dev = ctx->state->in;

	if (!dev)
		dev = ctx->state->out;
	if (brnf_bridging(skb)) {
		/* No IP stage: a bridged frame counts at its ports only. */
		if (st == STAGE_IP_FORWARD) /* skb->dev is the port it leaves by */
			bridge_mark(skb, skb->skb_iif, skb->dev->ifindex);
		return NF_ACCEPT;
	}
	count_stage(skb, st, L3_AT_NETHDR, netns, dev ? dev->ifindex : 0);
	return NF_ACCEPT;
}

#define NF_STAGE_PROG(name, st)                                                                    \
	SEC("netfilter")                                                                           \
	int nf_##name(struct bpf_nf_ctx *ctx)                                                      \
	{                                                                                          \
		return nf_count(ctx, st);                                                          \
	}

NF_STAGE_PROG(ip_rcv, STAGE_IP_RCV)                 /* PRE_ROUTING, first */
NF_STAGE_PROG(ip_local_in, STAGE_IP_LOCAL_IN)       /* LOCAL_IN, first */
NF_STAGE_PROG(l4_rcv, STAGE_L4_RCV)                 /* LOCAL_IN, last */
NF_STAGE_PROG(ip_forward, STAGE_IP_FORWARD)         /* FORWARD, first */
NF_STAGE_PROG(ip_local_out, STAGE_IP_LOCAL_OUT)     /* LOCAL_OUT, first */
NF_STAGE_PROG(ip_postrouting, STAGE_IP_POSTROUTING) /* POST_ROUTING, last */
