/* Drop attribution: skb/kfree_skb gives the reason (5.17+) and the code
 * location of every freed-as-dropped packet. Drops are counted per (flow
 * direction, reason, location, last stage passed) and, on request,
 * streamed as events through a ring buffer. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../lib/count.h"

enum drop_flag {
	/* A TCP segment with no payload (a bare FIN, ACK or RST): what it
	 * tells is lost, no data is. Freed at a closed connection's timewait
	 * entry it is a normal close; data freed there is a loss. */
	DROP_TCP_NO_PAYLOAD = 1,
};

enum drop_kind {
	DROP_FLOW = 0,  /* the packet parsed into a flow */
	DROP_NOT_IP,    /* ARP and other non-IP frames: flow is zero */
	DROP_MALFORMED, /* claimed IP, did not parse: flow is zero */
};

/* Where the IP header is at an arbitrary free site: at the network header
 * when one was set near the data (output, after IP receive), else at data
 * (receive before __netif_receive_skb_core resets it). */
static __always_inline enum l3_at drop_l3_at(struct sk_buff *skb)
{
	unsigned char *head = skb->head;
	unsigned char *data = skb->data;
	__u16 nh = skb->network_header;
	__s64 d = data - head;
	__u8 v;

	if (nh == 0 || nh == 0xffff || nh > d + 256 || nh + 256 < d)
		return L3_AT_DATA;
	if (bpf_probe_read_kernel(&v, 1, head + nh))
		return L3_AT_DATA;
	v >>= 4;
	return (v == 4 || v == 6) ? L3_AT_NETHDR : L3_AT_DATA;
}

static __always_inline bool event_allowed(void)
{
	__u32 zero = 0;
	struct event_budget *b = bpf_map_lookup_elem(&event_budget, &zero);
	__u64 second = bpf_ktime_get_ns() / 1000000000;

	if (!b)
		return false;
	if (b->second != second) {
		b->second = second;
		b->used = 0;
	}
	if (b->used >= CFG.events_rate) {
		counter_inc(COUNTER_EVENTS_THROTTLED);
		return false;
	}
	b->used++;
	return true;
}

static __always_inline void emit_event(void *ctx, struct sk_buff *skb, const struct drop_key *key,
				       const struct pkt_meta *meta)
{
	__u32 zero = 0, caplen = 0;
	struct event_buf *buf;

	if (!event_allowed())
		return;
	buf = bpf_map_lookup_elem(&event_buf, &zero);
	if (!buf)
		return;
	buf->e.time_ns = bpf_ktime_get_ns();
	buf->e.key = *key;
	buf->e.stack_id = CFG.events_stack ? bpf_get_stackid(ctx, &stacks, 0) : -1;
	buf->e.segs = meta->segs;
	buf->e.origlen = meta->bytes;
	buf->e.pad = 0;
	if (CFG.snaplen && key->kind == DROP_FLOW) {
		caplen = meta->l3_cap < CFG.snaplen ? meta->l3_cap : CFG.snaplen;
		if (caplen > MAX_SNAPLEN)
			caplen = MAX_SNAPLEN;
		/* A no-op for the value, but a bound the verifier can see: the
		 * compiler would drop a plain C mask after the clamp above. */
		asm volatile("%[v] &= 2047" : [v] "+r"(caplen));
		if (bpf_probe_read_kernel(buf->packet, caplen, skb->head + meta->l3_off))
			caplen = 0;
	}
	buf->e.caplen = caplen;
	if (bpf_ringbuf_output(&events, buf, sizeof(buf->e) + caplen, 0))
		counter_inc(COUNTER_EVENTS_LOST);
}

/* drop_admitted: a packet's drop counts when its path was admitted; one
 * no stage saw counts when the window is open. The path ends here, so its
 * entry goes; its last stage is the drop's stage (when the entry is this
 * packet's: same namespace and flow, not a freed skb's at the same address). */
static __always_inline bool drop_admitted(__u64 addr, struct flow_key *key, __u8 *stage)
{
	struct skb_path *p = bpf_map_lookup_elem(&skb_paths, &addr);
	bool admitted;

	/* TCP receive clears skb->dev: a packet freed after it has no
	 * namespace of its own, but its path knows it. */
	if (p && !key->netns) {
		key->netns = p->key.netns;
		/* Without its namespace the packet's own tuple could not be
		 * mapped to its connection across NAT (nat.h): now it can. */
		if (nat_netns_maybe(key->netns) && !same_flow(&p->key, key))
			nat_from_map(key);
		if (!same_flow(&p->key, key))
			key->netns = 0;
	}
	if (!p || p->key.netns != key->netns)
		return window_admits_untracked(key->netns);
	admitted = p->admitted;
	if (admitted && same_flow(&p->key, key))
		*stage = p->last_stage;
	bpf_map_delete_elem(&skb_paths, &addr);
	return admitted;
}

static __always_inline void record_drop(void *ctx, struct sk_buff *skb, __u64 location, __u32 reason)
{
	struct drop_key key = {};
	struct pkt_meta meta = {.segs = 1};
	/* Probe reads (classify_skb(false, ...)), not direct loads: a freed
	 * skb's dev may be another field of its union by now (UDP keeps
	 * dev_scratch there while the socket holds it), and a direct load
	 * through such a non-canonical address oopses 5.10 in its BPF
	 * exception fixup (seen in the kernel matrix). */
	enum verdict v = classify_skb(false, skb, drop_l3_at(skb), 0, 0, &key.flow, &meta);
	__u64 *count;

	if (v == VERDICT_FILTERED)
		return;
	key.reason = reason;
	key.location = location;
	key.ifindex = BPF_CORE_READ(skb, dev, ifindex);
	key.stage = STAGE_NONE;
	if (v == VERDICT_NOT_IP || v == VERDICT_MALFORMED) {
		if (!unparsed_match(skb) || !window_admits_untracked(0))
			return;
		__builtin_memset(&key.flow, 0, sizeof(key.flow));
		key.kind = v == VERDICT_NOT_IP ? DROP_NOT_IP : DROP_MALFORMED;
		meta.segs = 1;
	} else if (!drop_admitted(ptr_addr(skb), &key.flow, &key.stage)) {
		counter_add(COUNTER_DROPS_OUTSIDE_WINDOW, meta.segs);
		return;
	} else if (key.flow.proto == IPPROTO_TCP_ && meta.l4_payload == 0) {
		key.flags = DROP_TCP_NO_PAYLOAD;
		tcp_note_drop(skb, &key, &meta); /* a bare SYN or FIN still takes a sequence number */
	} else if (key.flow.proto == IPPROTO_TCP_) {
		tcp_note_drop(skb, &key, &meta);
	}

	count = bpf_map_lookup_elem(&drops, &key);
	if (!count) {
		__u64 init = 0;
		long err = bpf_map_update_elem(&drops, &key, &init, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			counter_inc(COUNTER_DROPS_UNRECORDED);
			goto event;
		}
		if (!err)
			counter_inc(COUNTER_DROP_ENTRIES_CREATED);
		count = bpf_map_lookup_elem(&drops, &key);
	}
	if (count)
		__sync_fetch_and_add(count, meta.segs);
	else
		counter_inc(COUNTER_DROPS_UNRECORDED);
event:
	if (CFG.events_rate)
		emit_event(ctx, skb, &key, &meta);
}

/* A normal free (consume_skb) is not a drop; kernels that route it through
 * this tracepoint mark it SKB_CONSUMED. */
static __always_inline bool is_consumed(__u32 reason)
{
	if (!bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED))
		return false;
	return reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED);
}

/* 5.17+: (skb, location, reason[, rx_sk]). */
SEC("tp_btf/kfree_skb")
int BPF_PROG(tp_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	if (is_consumed(reason))
		return 0;
	record_drop(ctx, skb, (__u64)location, reason); /* void *: a number to the verifier */
	return 0;
}

/* Older kernels: (skb, location), no reason; the location tells. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(tp_kfree_skb_noreason, struct sk_buff *skb, void *location)
{
	record_drop(ctx, skb, (__u64)location, 0);
	return 0;
}

/* Never used by the programs: these declarations only carry the event and
 * kind types into BTF, where bpf2go makes Go types of them. */
const struct drop_event *unused_drop_event __attribute__((unused));
const enum drop_kind *unused_drop_kind __attribute__((unused));
const enum drop_flag *unused_drop_flag __attribute__((unused));
