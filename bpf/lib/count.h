/* count_stage: parse an skb, apply the filter, add it to its flow and to
 * the stage totals. Every hook family ends here. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "flow.h"
#include "maps.h"
#include "window.h"

#define EEXIST 17

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

static __always_inline bool pred_true(const struct flow_key *k, const volatile struct flt_pred *p)
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
			if (!pred_true(k, &CFG.rules[r].preds[i])) {
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
	if (CFG.filter_netns && skb_netns(true, skb) != CFG.filter_netns)
		return false;
	return !CFG.filter_ifindex || (skb->dev && skb->dev->ifindex == CFG.filter_ifindex);
}

static __always_inline struct stage_totals *stage_totals(enum stage st)
{
	return bpf_map_lookup_elem(&totals, &st);
}

static __always_inline struct flow_counts *flow_get(const struct flow_key *key)
{
	struct flow_counts *s = bpf_map_lookup_elem(&flows, key);
	struct flow_counts zero = {};
	long err;

	if (s)
		return s;
	err = bpf_map_update_elem(&flows, key, &zero, BPF_NOEXIST);
	if (err == 0)
		counter_inc(COUNTER_FLOWS_CREATED);
	else if (err != -EEXIST)
		counter_inc(COUNTER_FLOW_CREATE_FAILED);
	s = bpf_map_lookup_elem(&flows, key);
	if (!s && err == 0)
		counter_inc(COUNTER_FLOW_CREATE_FAILED); /* evicted before we could count */
	return s;
}

/* Outcome of classifying a packet at a stage, remembered by the transmit
 * hooks so tx.done can be counted without touching a freed skb. */
enum verdict {
	VERDICT_COUNTED = 1,
	VERDICT_FILTERED,
	VERDICT_NOT_IP,
	VERDICT_MALFORMED,
	VERDICT_OUTSIDE, /* outside the counting window: not counted */
};

/* count_parsed adds an already parsed packet to its stage. */
static __always_inline void count_parsed(enum stage st, enum verdict v, const struct flow_key *key,
					 const struct pkt_meta *meta)
{
	struct stage_totals *t = stage_totals(st);
	struct flow_counts *s;

	if (!t)
		return;
	switch (v) {
	case VERDICT_NOT_IP:
		__sync_fetch_and_add(&t->not_ip, 1);
		return;
	case VERDICT_MALFORMED:
		__sync_fetch_and_add(&t->malformed, 1);
		return;
	case VERDICT_FILTERED:
		__sync_fetch_and_add(&t->filtered, meta->segs);
		return;
	case VERDICT_OUTSIDE:
		return;
	default:
		break;
	}
	__sync_fetch_and_add(&t->packets, meta->segs);
	__sync_fetch_and_add(&t->bytes, meta->bytes);
	s = flow_get(key);
	if (!s)
		return;
	__sync_fetch_and_add(&s->packets[st], meta->segs);
	__sync_fetch_and_add(&s->bytes[st], meta->bytes);
}

/* classify parses an skb and decides whether it is counted. netns and
 * ifindex are the hook's own knowledge of the namespace and device
 * (netfilter, eth_type_trans), or 0 to read them off the skb. */
static __always_inline enum verdict classify_access(bool btf, struct sk_buff *skb, enum l3_at at, __u32 netns,
						    __u32 ifindex, struct flow_key *key, struct pkt_meta *meta)
{
	int ret = parse_skb(btf, skb, at, key, meta);

	if (ret == PARSE_NOT_IP)
		return VERDICT_NOT_IP;
	if (ret != PARSE_OK)
		return VERDICT_MALFORMED;
	key->netns = netns ? netns : skb_netns(btf, skb);
	if (CFG.filter_ifindex) {
		/* -i: the device the packet is on at this stage; none (local
		 * output before routing, a freed skb) does not match. */
		if (!ifindex)
			ifindex = KREAD(btf, skb->dev->ifindex, skb, dev, ifindex);
		if (ifindex != CFG.filter_ifindex)
			return VERDICT_FILTERED;
	}
	return filter_match(key) ? VERDICT_COUNTED : VERDICT_FILTERED;
}

/* classify for hooks holding a BTF-typed skb (all but kprobes). */
static __always_inline enum verdict classify(struct sk_buff *skb, enum l3_at at, __u32 netns, __u32 ifindex,
					     struct flow_key *key, struct pkt_meta *meta)
{
	return classify_access(true, skb, at, netns, ifindex, key, meta);
}

/* One per-CPU word to turn a pointer into a number (ptr_addr). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ptr_scratch SEC(".maps");

/* ptr_addr is a typed pointer's value as a plain number: the verifier
 * forbids shifts and masks on typed pointers, but lets a program that may
 * leak pointers (CAP_PERFMON, which dropspot needs anyway) store one in a
 * map value and compare it with a number, and what is loaded back is a
 * number. Measured: a probe read of the pointer's bytes cost ~25 ns, this
 * ~2. A program in process context (local output) can be interrupted by a
 * softirq whose programs reuse the CPU's word between the store and the
 * load: the comparison catches that, and the probe read answers then. */
static __always_inline __u64 ptr_addr(const void *p)
{
	__u32 zero = 0;
	volatile __u64 *word = bpf_map_lookup_elem(&ptr_scratch, &zero);
	__u64 addr, loaded;

	if (word) {
		*word = (__u64)p;
		addr = *word;
		/* An opaque copy: once addr == p is known, the compiler would
		 * return p itself, the typed pointer. */
		loaded = addr;
		asm volatile("" : "+r"(loaded));
		if (addr == (__u64)p)
			return loaded;
	}
	addr = 0;
	bpf_probe_read_kernel(&addr, sizeof(addr), &p);
	return addr;
}

/* admit applies the counting window to a classified packet: a flow
 * packet follows its path's admission, anything else the window's state. */
static __always_inline enum verdict admit(struct sk_buff *skb, enum stage st, enum verdict v,
					  const struct flow_key *key, const struct pkt_meta *meta)
{
	if (v == VERDICT_COUNTED)
		return path_admits(ptr_addr(skb), st, key, meta->segs) ? v : VERDICT_OUTSIDE;
	return window_admits_untracked(0) ? v : VERDICT_OUTSIDE;
}

static __always_inline void count_stage_access(bool btf, struct sk_buff *skb, enum stage st, enum l3_at at,
					       __u32 netns, __u32 ifindex)
{
	struct flow_key key = {};
	struct pkt_meta meta = {};
	enum verdict v = classify_access(btf, skb, at, netns, ifindex, &key, &meta);

	count_parsed(st, admit(skb, st, v, &key, &meta), &key, &meta);
}

/* count_stage: for hooks holding a BTF-typed skb (tracepoints, fentry,
 * netfilter, cgroup_skb). */
static __always_inline void count_stage(struct sk_buff *skb, enum stage st, enum l3_at at, __u32 netns,
					__u32 ifindex)
{
	count_stage_access(true, skb, st, at, netns, ifindex);
}

/* count_stage_probe: for kprobes, whose skb is a plain address. */
static __always_inline void count_stage_probe(struct sk_buff *skb, enum stage st, enum l3_at at, __u32 netns,
					      __u32 ifindex)
{
	count_stage_access(false, skb, st, at, netns, ifindex);
}
