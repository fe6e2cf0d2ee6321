/* Maps shared by every hook family. Sizes are set by the loader
 * (--max-flows etc.); the values here are only defaults. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "flow.h"
#include "stages.h"

struct flow_counts {
	__u64 packets[NR_STAGES];
	__u64 bytes[NR_STAGES];
};

/* Per-flow, per-stage counts. LRU so a full table evicts instead of
 * refusing; evictions = flows created - flows present (COUNTER_FLOWS_CREATED).
 * One value shared by all CPUs, added to atomically: a per-CPU value
 * multiplies the table's memory by the possible CPUs (10^6 flows took
 * 642 MiB on 2 CPUs, and servers have dozens). The price is a cache line
 * that moves between CPUs when they count one flow at once (a TCP
 * direction sent from the application's CPU and from the ACK softirq's);
 * the veth benchmark keeps a flow on one CPU and cannot show that cost. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_counts);
} flows SEC(".maps");

/* What each stage saw in total, flow or not: the ground the flow table
 * is checked against, and where evicted flows' packets still show. */
struct stage_totals {
	__u64 packets;  /* IP packets that passed the filter */
	__u64 bytes;
	__u64 filtered; /* IP packets the filter rejected */
	__u64 not_ip;   /* ARP and other non-IP frames */
	__u64 malformed; /* frames claiming IP that did not parse */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_STAGES);
	__type(key, enum stage);
	__type(value, struct stage_totals);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_COUNTERS);
	__type(key, enum counter);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void counter_add(enum counter c, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);

	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline void counter_inc(enum counter c)
{
	counter_add(c, 1);
}
