// SPDX-License-Identifier: GPL-2.0
/* Benchmark only, never loaded by dropspot: the programs of the benchmark's
 * components phase (bench/benchtool/components.go). Each does one piece of
 * the work dropspot's hooks do, on one tp_btf hook whose first argument is
 * the skb (net_dev_queue; user space may retarget them), so bpf_stats says
 * what that piece costs on this machine: ns/run minus the empty program's.
 * The pieces use dropspot's own types and helpers (bpf/lib), so they
 * cost what dropspot's do; of the maps maps.h declares, only those the
 * loaded programs use are created (ptr_scratch). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "flow.h"
#include "maps.h"
#include "ptr_addr.h"
#include "stages.h"

char LICENSE[] SEC("license") = "GPL";

/* Twins of the flows map (maps.h): same key and value, an LRU_HASH like
 * it and a plain HASH to compare with. Not the flows map itself: other
 * tools on the machine look for dropspot's by its name. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_counts);
} lru_twin SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_counts);
} hash_twin SEC(".maps");

struct five_counters {
	__u64 n[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct five_counters);
} c_arr SEC(".maps");

/* The per-CPU skb cache a stage would consult instead of the flows map
 * (BENCHMARKS.md, "Why the missed targets are missed"): a slot per
 * (address >> 8) % 64, holding the skb it is about and the stages seen. */
struct skb_slot {
	__u64 addr;
	__u32 len;
	__u64 stages; /* bit per enum stage */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct skb_slot);
} c_skbcache SEC(".maps");

/* The programs are attached in this file's order: the empty ones first
 * and last bracket the rest (a program's place on the hook shifts its
 * ns/run a little). */

SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_empty_first, struct sk_buff *skb)
{
	return 0;
}

static __always_inline void probe_reads(struct sk_buff *skb, int n)
{
	__u32 v;

#pragma clang loop unroll(full)
	for (int i = 0; i < n; i++)
		bpf_probe_read_kernel(&v, sizeof(v), skb);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_probe1, struct sk_buff *skb)
{
	probe_reads(skb, 1);
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_probe16, struct sk_buff *skb)
{
	probe_reads(skb, 16);
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_direct16, struct sk_buff *skb)
{
	/* volatile: sixteen loads, not one */
#pragma clang loop unroll(full)
	for (int i = 0; i < 16; i++)
		(void)*(volatile __u32 *)&skb->len;
	return 0;
}

/* What counting a packet does once its key is known: look the flow up
 * (the all-zero key, present: a hit) and add to packets[st] and bytes[st]. */
static __always_inline void count_zero_key(void *map)
{
	struct flow_key key = {};
	struct flow_counts *c = bpf_map_lookup_elem(map, &key);

	if (c) {
		__sync_fetch_and_add(&c->packets[0], 1);
		__sync_fetch_and_add(&c->bytes[0], 64);
	}
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_lru_lookup, struct sk_buff *skb)
{
	count_zero_key(&lru_twin);
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_hash_lookup, struct sk_buff *skb)
{
	count_zero_key(&hash_twin);
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_arr_atomic, struct sk_buff *skb)
{
	__u32 zero = 0;
	struct five_counters *c = bpf_map_lookup_elem(&c_arr, &zero);

	if (c) {
#pragma clang loop unroll(full)
		for (int i = 0; i < 4; i++)
			__sync_fetch_and_add(&c->n[i], 1);
	}
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_arr_plain, struct sk_buff *skb)
{
	__u32 zero = 0;
	struct five_counters *c = bpf_map_lookup_elem(&c_arr, &zero);

	if (c) {
#pragma clang loop unroll(full)
		for (int i = 0; i < 4; i++)
			c->n[i] += 1;
	}
	return 0;
}

/* The skb's address as a number (ptr_addr), its slot, the identity check
 * (address and length), then the stage's bit on a hit or the slot taken
 * over on a miss. */
static __always_inline void skb_cache_probe(struct sk_buff *skb, enum stage st)
{
	__u64 addr = ptr_addr(skb);
	__u32 slot = (addr >> 8) % 64;
	__u32 len = skb->len;
	struct skb_slot *s = bpf_map_lookup_elem(&c_skbcache, &slot);

	if (!s)
		return;
	if (s->addr == addr && s->len == len) {
		s->stages |= 1ULL << st;
		return;
	}
	s->addr = addr;
	s->len = len;
	s->stages = 1ULL << st;
}

/* Two programs in a row: the first stands for a packet's first stage (it
 * takes the slot over, or hits when the flood reuses a freed skb of the
 * same length), the second for its later stages (always a hit: same skb,
 * same length). */
SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_skbcache_1st, struct sk_buff *skb)
{
	skb_cache_probe(skb, STAGE_TX_QUEUE);
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_skbcache_hit, struct sk_buff *skb)
{
	skb_cache_probe(skb, STAGE_TX_XMIT);
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(c_empty_last, struct sk_buff *skb)
{
	return 0;
}
