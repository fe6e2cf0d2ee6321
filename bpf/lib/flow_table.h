/* The flow table and stage totals: where a classified packet is counted. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "classify.h"
#include "counters.h"
#include "maps.h"

#define EEXIST 17

static __always_inline struct stage_totals *stage_totals_get(enum stage st)
{
	return bpf_map_lookup_elem(&totals, &st);
}

/* flow_counts_get finds a flow's counts or makes them, counting what
 * it made and what it could not. */
static __always_inline struct flow_counts *flow_counts_get(const struct flow_key *key)
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

/* count_verdict adds a classified packet to its stage: counted ones to
 * its flow and the stage totals, the others to the totals' reasons. */
static __always_inline void count_verdict(enum stage st, enum verdict v, const struct flow_key *key,
					 const struct pkt_meta *meta)
{
	struct stage_totals *t = stage_totals_get(st);
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
	s = flow_counts_get(key);
	if (!s)
		return;
	__sync_fetch_and_add(&s->packets[st], meta->segs);
	__sync_fetch_and_add(&s->bytes[st], meta->bytes);
}
