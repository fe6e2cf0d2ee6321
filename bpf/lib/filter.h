/* The filter expression, evaluated on a parsed packet's flow key: the
 * rules user space compiled into CFG (config.h). */
#pragma once

#include "vmlinux.h"
#include "config.h"
#include "flow.h"

static __always_inline bool is_port_proto(__u8 proto)
{
	return proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_ || proto == IPPROTO_UDPLITE_ ||
	       proto == IPPROTO_SCTP_;
}

static __always_inline bool net_match(const __u8 *addr, const volatile struct flt_pred *p)
{
	const __u32 *a = (const __u32 *)addr;

	for (int i = 0; i < 4; i++)
		if ((a[i] & p->mask[i]) != p->addr[i])
			return false;
	return true;
}

static __always_inline bool port_match(__u16 port, const volatile struct flt_pred *p)
{
	return port >= p->port_lo && port <= p->port_hi;
}

static __always_inline bool pred_matches(const struct flow_key *k, const volatile struct flt_pred *p)
{
	bool r = false;

	switch (p->kind) {
	case PRED_PROTO:
		r = k->proto == p->value;
		break;
	case PRED_FAMILY:
		r = k->family == p->value;
		break;
	case PRED_NET:
		r = k->family == p->value && (((p->dir & DIR_SRC) && net_match(k->saddr, p)) ||
					      ((p->dir & DIR_DST) && net_match(k->daddr, p)));
		break;
	case PRED_PORT:
		r = is_port_proto(k->proto) && (((p->dir & DIR_SRC) && port_match(k->sport, p)) ||
						((p->dir & DIR_DST) && port_match(k->dport, p)));
		break;
	}
	return p->negate ? !r : r;
}

/* filter_match runs before any map write: filtered-out packets cost no
 * flow entry. The rule table is constant, so the verifier walks only the
 * rules and predicates a run has. */
static __always_inline bool filter_match(const struct flow_key *k)
{
	if (CFG.filter_netns && k->netns != CFG.filter_netns)
		return false;
	if (CFG.nrules == 0)
		return true;
	for (int r = 0; r < MAX_RULES; r++) {
		bool all = true;

		if (r >= CFG.nrules)
			break;
		for (int i = 0; i < MAX_PREDS; i++) {
			if (i >= CFG.rules[r].npreds)
				break;
			if (!pred_matches(k, &CFG.rules[r].preds[i])) {
				all = false;
				break;
			}
		}
		if (all)
			return true;
	}
	return false;
}

/* unparsed_match is the filter for a frame that parsed into no flow (not
 * IP, or a malformed IP header): the namespace and device as for a flow,
 * and the expression as it holds with none of the fields predicates test
 * (match_unparsed, worked out by filter.Program.MatchUnparsed). */
static __always_inline bool unparsed_match(struct sk_buff *skb)
{
	if (!CFG.match_unparsed)
		return false;
	/* Probe reads: the drop hook calls this for freed skbs (hooks/drop.h). */
	if (CFG.filter_netns && skb_netns(false, skb) != CFG.filter_netns)
		return false;
	return !CFG.filter_ifindex || BPF_CORE_READ(skb, dev, ifindex) == CFG.filter_ifindex;
}
