/* The counting window: every stage of a path counts the same packets.
 *
 * Hooks are attached one after another (netfilter links per namespace,
 * some later than others), and packets are in flight when counting starts
 * and stops. Counting each stage from its own attach moment makes a
 * healthy flow look lossy. So a packet is admitted, or not, once per
 * namespace it passes, at the first stage that sees it there, and every
 * later stage of that namespace follows that decision. A packet is
 * admitted when the window is open and its namespace has all its hooks;
 * user space opens the window only after every hook is attached, and at
 * stop closes it and waits for admitted packets to finish their path
 * before the final read (see ARCHITECTURE.md, "Counting window"). */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "counters.h"
#include "flow.h"
#include "maps.h"
#include "stages.h"

enum window_state {
	WINDOW_SHUT = 0, /* attaching: nothing is admitted yet */
	WINDOW_OPEN,     /* new paths are admitted */
	WINDOW_CLOSING,  /* stopping: admitted packets finish, no new ones */
};

enum netns_state {
	NETNS_PENDING = 1, /* seen, user space told, hooks not yet attached */
	NETNS_READY,       /* every per-namespace hook is attached */
};

static __always_inline struct window *window_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counting_window, &zero);
}

static __always_inline bool same_flow(const struct flow_key *a, const struct flow_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	for (int i = 0; i < sizeof(*a) / 4; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

static __always_inline struct recent_path *recent_slot(const struct flow_key *key)
{
	/* Not symmetric in the ports: a connection's two directions (data
	 * one way, ACKs the other, both on this CPU) must not share a slot. */
	__u32 idx = (key->sport * 7 + key->dport + key->netns + key->proto) % RECENT_SLOTS;

	return bpf_map_lookup_elem(&recent_paths, &idx);
}

static __always_inline void note_recent(const struct flow_key *key, bool admitted)
{
	struct recent_path *r = recent_slot(key);

	if (!r)
		return;
	r->key = *key;
	r->admitted = admitted;
}

/* netns_admits says whether a namespace has all its hooks; the first
 * packet of an unknown one tells user space. */
static __always_inline bool netns_admits(const struct window *w, __u32 netns)
{
	__u32 pending = NETNS_PENDING;
	__u32 *state;

	if (!w->netns_gated)
		return true;
	state = bpf_map_lookup_elem(&netns_states, &netns);
	if (state)
		return *state == NETNS_READY;
	if (bpf_map_update_elem(&netns_states, &netns, &pending, BPF_NOEXIST))
		return false; /* another CPU was first, or the table is full */
	if (bpf_ringbuf_output(&netns_news, &netns, sizeof(netns), 0)) {
		/* Not told: forget it, so the next packet tries again. */
		bpf_map_delete_elem(&netns_states, &netns);
		counter_inc(COUNTER_NETNS_NEWS_LOST);
	}
	return false;
}

#define LOCAL_IN_STAGES ((1 << STAGE_IP_LOCAL_IN) | (1 << STAGE_L4_RCV) | (1 << STAGE_SOCK_RCV))
#define OUTBOUND_STAGES                                                                            \
	((1 << STAGE_IP_FORWARD) | (1 << STAGE_IP_POSTROUTING) | (1 << STAGE_TX_QUEUE) |          \
	 (1 << STAGE_TX_XMIT) | (1 << STAGE_TX_DONE))

/* A new path begins at the stages where a packet enters a namespace's
 * stack: from a device, or made here. Elsewhere a packet continues the
 * path its entry holds. Loopback is the exception: a packet sent here
 * comes back in at rx.driver still on its path. */
static __always_inline bool path_continues(const struct skb_path *p, enum stage st, const struct flow_key *key,
					    __u32 segs)
{
	/* A packet passes each stage once per namespace: an entry that has
	 * passed this one already is a freed skb's whose address was reused
	 * (GSO segments are made and freed by the thousand). */
	if (p->key.netns != key->netns || (p->stages & (1 << st)))
		return false;
	switch (st) {
	case STAGE_IP_LOCAL_OUT:
		return false;
	case STAGE_RX_DRIVER:
		return (p->stages & (1 << STAGE_TX_XMIT)) && same_flow(&p->key, key);
	default:
		/* A packet delivered here, or handed to a device, has ended its
		 * path in this namespace: the entry is a freed skb's (a received
		 * ACK's address reused for a GSO segment). */
		if (p->last_stage == STAGE_TX_DONE)
			return false;
		/* A super-packet split at the device is freed after tx.queue:
		 * a single segment at its address is one of its (or a later
		 * one's) segments, not the super-packet going on. */
		if (st == STAGE_TX_XMIT && p->last_stage == STAGE_TX_QUEUE && p->segs > 1 && segs == 1)
			return false;
		return !((p->stages & LOCAL_IN_STAGES) && ((1 << st) & OUTBOUND_STAGES));
	}
}

/* path_admits decides whether stage st counts this packet, and records
 * the stage on the packet's path. */
static __always_inline bool path_admits(__u64 addr, enum stage st, const struct flow_key *key, __u32 segs,
					__u32 nat)
{
	struct window *w = window_get();
	struct skb_path *p, fresh = {};
	struct recent_path *r;
	bool admitted;

	if (!w)
		return false;
	p = bpf_map_lookup_elem(&skb_paths, &addr);
	if (p && path_continues(p, st, key, segs)) {
		if ((nat & NAT_CT) && (nat & (NAT_DNAT | NAT_SNAT)) && !same_flow(&p->key, key)) {
			/* Conntrack names another connection than the earlier
			 * stages did: a translated packet they could not map
			 * back (nat.h). They counted it elsewhere: say so, and
			 * go on under the right key. */
			if (p->admitted)
				counter_add(COUNTER_NAT_SPLIT, segs);
			p->key = *key;
		}
		p->stages |= 1 << st;
		p->last_stage = st;
		p->generation = w->generation;
		p->segs = segs;
		if (!p->admitted && w->state == WINDOW_OPEN && !p->in_flight_noted) {
			/* Began before the window opened (or before its
			 * namespace was hooked): counted here, once. */
			p->in_flight_noted = 1;
			counter_add(COUNTER_IN_FLIGHT_AT_START, segs);
		}
		if (st == STAGE_TX_QUEUE || st == STAGE_L4_RCV)
			note_recent(key, p->admitted);
		return p->admitted;
	}
	/* Only where derived skbs appear: a new packet first seen elsewhere
	 * (ip.postrouting where ip.local_out has no hook) must not inherit
	 * the previous packet's decision, or a flow running when the window
	 * opened would stay outside it for good. */
	r = st == STAGE_TX_XMIT || st == STAGE_SOCK_RCV ? recent_slot(key) : 0;
	if (r && same_flow(&r->key, key)) {
		admitted = r->admitted;
	} else {
		admitted = w->state == WINDOW_OPEN && netns_admits(w, key->netns);
		if (!admitted && w->state == WINDOW_OPEN)
			counter_add(COUNTER_NETNS_UNHOOKED, segs);
	}
	/* Passed the filter by its translated tuple, and no earlier stage
	 * here counted it: the first packet of a connection, which the
	 * stages before conntrack could not know to be translated. */
	if (admitted && (nat & NAT_BY_XLAT) && st != STAGE_RX_DRIVER && st != STAGE_IP_LOCAL_OUT)
		counter_add(COUNTER_NAT_SPLIT, segs);
	fresh.key = *key;
	fresh.generation = w->generation;
	fresh.segs = segs;
	fresh.stages = 1 << st;
	fresh.admitted = admitted;
	fresh.last_stage = st;
	/* Not admitted while open: counted above, or its parent was. */
	fresh.in_flight_noted = !admitted && w->state == WINDOW_OPEN;
	/* The entry at this address, if any, is a freed skb's: overwritten
	 * in place (the lookup has kept it recent). Addresses are reused all
	 * the time, and an LRU hash update allocates a node and moves it
	 * between lists: measured as most of a path start's cost
	 * (BENCHMARKS.md, "Stage sets"). */
	if (p)
		*p = fresh;
	else
		bpf_map_update_elem(&skb_paths, &addr, &fresh, BPF_ANY);
	if (st == STAGE_TX_QUEUE || st == STAGE_L4_RCV)
		note_recent(key, admitted);
	return admitted;
}

/* path_moved records a stage that cannot read the skb (tx.done: the
 * driver may have freed it) on the path, if the entry is still its own. */
static __always_inline void path_moved(__u64 addr, enum stage st, __u32 netns)
{
	struct skb_path *p = bpf_map_lookup_elem(&skb_paths, &addr);

	/* Only after tx.xmit: a looped-back packet may be on its way in already. */
	if (p && p->key.netns == netns && p->last_stage == STAGE_TX_XMIT) {
		p->stages |= 1 << st;
		p->last_stage = st;
	}
}

/* window_admits_untracked decides for what has no path: frames that are
 * not IP or do not parse, and drops of packets no stage saw. */
static __always_inline bool window_admits_untracked(__u32 netns)
{
	struct window *w = window_get();

	return w && w->state == WINDOW_OPEN && (!netns || netns_admits(w, netns));
}

/* Never used by the programs: these carry the enums into BTF for bpf2go. */
const enum window_state *unused_window_state __attribute__((unused));
const enum netns_state *unused_netns_state __attribute__((unused));
