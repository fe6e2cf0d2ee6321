/* TCP loss, here or beyond this host: each retransmitted segment of a
 * connection is matched to the drops this host made.
 *
 * - A drop of a TCP segment carrying sequence space (data, SYN, FIN) puts
 *   one entry per wire segment in tcp_dropped: {connection as its sender
 *   sees it, first seq} -> where it was dropped, and how many of its drops
 *   each end has yet to follow. Not a segment the sender's own output
 *   refused synchronously: TCP sends those again as new data, never as a
 *   retransmission (tcp_refused_by_own_output).
 * - The sender's socket sending new data at tx.queue (seq == snd_nxt)
 *   records the first sequence number it sent in the window
 *   (tcp_first_sent).
 * - A retransmission (tcp:tcp_retransmit_skb, hooks/tcp.h) counts its
 *   tcp_skb_pcount segments (as TcpRetransSegs does), each as dropped_here
 *   (a drop of it no retransmission followed yet), beyond (sent in the
 *   window: at or after the first sequence number sent) or unknown.
 * - A segment arriving at l4.rcv after drops of it no arrival followed
 *   yet is redelivered after each of those drops.
 * Every verdict is per wire segment, so
 * dropped_here + beyond + unknown = retransmitted. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"
#include "filter.h"
#include "flow.h"
#include "maps.h"
#include "nat.h"
#include "window.h"

/* Most wire segments one skb is checked for (a 64 KiB TSO packet of
 * 1448-byte segments is 46); the rest of a larger one is counted as
 * unrecorded (drops) or unknown (retransmissions). */
#define TCP_MAX_SEGS 64

/* Kernel TCP states of sockets that are not full sockets. */
#define TCP_STATE_TIME_WAIT 6
#define TCP_STATE_LISTEN 10
#define TCP_STATE_NEW_SYN_RECV 12

static __always_inline bool seq_before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

/* tcp_conn_of_key: the connection direction a packet belongs to, its
 * source being the sender. The one place that says which tuple identifies
 * a connection across namespaces. */
static __always_inline void tcp_conn_of_key(const struct flow_key *k, struct tcp_conn *c)
{
	__builtin_memcpy(c->saddr, k->saddr, sizeof(c->saddr));
	__builtin_memcpy(c->daddr, k->daddr, sizeof(c->daddr));
	c->sport = k->sport;
	c->dport = k->dport;
	c->family = k->family;
}

/* tcp_key_of_sock fills the flow key of what a socket sends, in its
 * namespace. An IPv4-mapped IPv6 socket sends IPv4 packets. */
static __always_inline bool tcp_key_of_sock(const struct sock *sk, struct flow_key *key)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET) {
		__u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(key->saddr, &s, 4);
		__builtin_memcpy(key->daddr, &d, 4);
	} else if (family == AF_INET6) {
		struct in6_addr s = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);
		struct in6_addr d = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);

		if (d.in6_u.u6_addr32[0] == 0 && d.in6_u.u6_addr32[1] == 0 &&
		    d.in6_u.u6_addr32[2] == bpf_htonl(0xffff)) {
			family = AF_INET;
			__builtin_memcpy(key->saddr, &s.in6_u.u6_addr32[3], 4);
			__builtin_memcpy(key->daddr, &d.in6_u.u6_addr32[3], 4);
		} else {
			__builtin_memcpy(key->saddr, &s, 16);
			__builtin_memcpy(key->daddr, &d, 16);
		}
	} else {
		return false;
	}
	key->family = family;
	key->proto = IPPROTO_TCP_;
	key->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	key->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	key->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	return true;
}

/* tcp_sender_snd_nxt gives the next new sequence number of the socket
 * that sent this packet (skb->sk with the packet's own ports), if it is
 * a full TCP socket. btf as in KREAD. */
static __always_inline bool tcp_sender_snd_nxt(bool btf, struct sk_buff *skb, const struct flow_key *key, __u32 *snd_nxt)
{
	struct sock *sk = KREAD(btf, skb->sk, skb, sk);
	__u8 state;

	if (!sk)
		return false;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_STATE_TIME_WAIT || state == TCP_STATE_NEW_SYN_RECV || state == TCP_STATE_LISTEN)
		return false;
	if (BPF_CORE_READ(sk, __sk_common.skc_num) != key->sport ||
	    bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)) != key->dport)
		return false;
	*snd_nxt = BPF_CORE_READ((struct tcp_sock *)sk, snd_nxt);
	return true;
}

/* A segment dropped inside its sender's own transmit call (netfilter
 * OUTPUT/POSTROUTING, a qdisc refusing it) has not advanced snd_nxt: TCP
 * sees the error and sends the same bytes again as new data, so no
 * retransmission follows from this drop. */
static __always_inline bool tcp_refused_by_own_output(struct sk_buff *skb, const struct flow_key *key, __u32 seq)
{
	__u32 snd_nxt;

	return tcp_sender_snd_nxt(true, skb, key, &snd_nxt) && !seq_before(seq, snd_nxt);
}

/* tcp_segs says how an skb's sequence range splits into wire segments. */
struct tcp_segs {
	__u32 seq;
	__u32 mss; /* sequence numbers per segment but the last */
	__u32 count;
};

static __always_inline __u32 tcp_seg_start(const struct tcp_segs *s, __u32 i)
{
	return s->seq + i * s->mss;
}

static __always_inline bool tcp_segs_of_meta(const struct flow_key *key, const struct pkt_meta *meta,
					     struct tcp_segs *s)
{
	/* Non-first fragments parse with ports 0 and no TCP header. */
	if (key->proto != IPPROTO_TCP_ || !meta->tcp_seqlen || (!key->sport && !key->dport))
		return false;
	s->seq = meta->tcp_seq;
	s->count = meta->segs > 1 && meta->gso_size ? meta->segs : 1;
	s->mss = s->count > 1 ? meta->gso_size : meta->tcp_seqlen;
	return true;
}

/* tcp_put_dropped records one drop of a segment (d: where, each end's
 * count 1); it returns 1 if it did (one more drop for a receive to
 * follow). */
static __always_inline int tcp_put_dropped(const struct tcp_seg *seg, const struct tcp_dropped *d)
{
	struct tcp_dropped *old = bpf_map_lookup_elem(&tcp_dropped, seg);
	long err;

	if (old) {
		/* Dropped again, and each drop is one more for both ends to
		 * follow: a copy a retransmission sent can be dropped before
		 * that retransmission is counted (its tracepoint fires after
		 * the transmission, which can reach a drop on this host
		 * synchronously), so the sender may still have to follow the
		 * drop before. The place shown is the latest. */
		old->location = d->location;
		old->netns = d->netns;
		old->reason = d->reason;
		old->stage = d->stage;
		__sync_fetch_and_add(&old->unmatched_by_sender, 1);
		__sync_fetch_and_add(&old->unmatched_by_receiver, 1);
		return 1;
	}
	err = bpf_map_update_elem(&tcp_dropped, seg, d, BPF_NOEXIST);
	if (!err) {
		counter_inc(COUNTER_TCP_DROPPED_CREATED);
		return 1;
	}
	if (err != -EEXIST)
		counter_inc(COUNTER_TCP_DROPPED_UNRECORDED);
	return 0;
}

static __always_inline struct tcp_walk *tcp_walk_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tcp_walk, &zero);
}

/* The walks over an skb's wire segments are global functions: the
 * verifier checks each once on its own, instead of its loop once for
 * every state the packet parser leaves (the receive hook went past the
 * verifier's million instructions inline). Their non-scalar arguments
 * are in tcp_walk (global functions take scalars only before 5.12). */

/* tcp_put_dropped_segs records count segments from seq, mss apart, as
 * dropped where tcp_walk says, and returns how many it recorded. */
__noinline int tcp_put_dropped_segs(__u32 seq, __u32 mss, __u32 count)
{
	struct tcp_walk *w = tcp_walk_get();
	int pending = 0;

	if (!w)
		return 0;
	for (__u32 i = 0; i < TCP_MAX_SEGS; i++) {
		if (i >= count)
			break;
		w->seg.seq = seq + i * mss;
		pending += tcp_put_dropped(&w->seg, &w->dropped);
	}
	return pending;
}

/* tcp_add_rx_pending adds n drops for a connection's receive to follow. */
static __always_inline void tcp_add_rx_pending(const struct tcp_conn *conn, int n)
{
	__u32 *p, init = n;

	if (n <= 0)
		return;
	p = bpf_map_lookup_elem(&tcp_rx_pending, conn);
	if (p)
		__sync_fetch_and_add(p, n);
	else
		bpf_map_update_elem(&tcp_rx_pending, conn, &init, BPF_NOEXIST);
}

/* reason_is reports whether a drop reason is the running kernel's value
 * of a name (false on kernels without it, or without reasons). */
#define reason_is(reason, name)                                                                    \
	(bpf_core_enum_value_exists(enum skb_drop_reason, name) &&                                 \
	 (reason) == bpf_core_enum_value(enum skb_drop_reason, name))

/* A duplicate the receiver frees (its data arrived before, or was merged
 * into the out-of-order queue) is no loss: a later retransmission of it
 * follows the loss of another copy, or none. Without drop reasons (before
 * 5.17) it cannot be told apart. */
static __always_inline bool tcp_duplicate_freed(__u32 reason)
{
	return reason_is(reason, SKB_DROP_REASON_TCP_OLD_DATA) || reason_is(reason, SKB_DROP_REASON_TCP_OLD_SEQUENCE) ||
	       reason_is(reason, SKB_DROP_REASON_TCP_OFOMERGE);
}

/* tcp_put_drops records a dropped skb's segments for the ends that see
 * its connection as conn: its sender, its receiver or both. */
static __always_inline void tcp_put_drops(struct tcp_walk *w, const struct flow_key *conn, const struct drop_key *dk,
					  const struct tcp_segs *s, bool sender, bool receiver)
{
	int recorded;

	tcp_conn_of_key(conn, &w->seg.conn);
	w->dropped = (struct tcp_dropped){
		.location = dk->location,
		.netns = dk->flow.netns,
		.reason = dk->reason,
		.stage = dk->stage,
		.unmatched_by_sender = sender,
		.unmatched_by_receiver = receiver,
	};
	recorded = tcp_put_dropped_segs(s->seq, s->mss, s->count);
	if (receiver)
		tcp_add_rx_pending(&w->seg.conn, recorded);
}

/* tcp_note_drop records the wire segments of a dropped, admitted TCP skb.
 * Across NAT its two ends see the connection by different tuples: the
 * client by the key (nat.h), the server behind the translation by the
 * tuple after it — the sender of a reply, the receiver otherwise. Each
 * end then follows its own entry. */
static __always_inline void tcp_note_drop(struct sk_buff *skb, const struct drop_key *dk, const struct pkt_meta *meta)
{
	struct tcp_walk *w = tcp_walk_get();
	struct nat_scratch *x = meta->nat & (NAT_DNAT | NAT_SNAT) ? nat_scratch_get() : 0;
	bool reply = meta->nat & NAT_REPLY;
	struct tcp_segs s;
	__u32 zero = 0, one = 1;

	if (!CFG.tcp_loss || !w || tcp_duplicate_freed(dk->reason) || !tcp_segs_of_meta(&dk->flow, meta, &s) ||
	    tcp_refused_by_own_output(skb, &dk->flow, s.seq))
		return;
	if (x) {
		tcp_put_drops(w, &dk->flow, dk, &s, !reply, reply);
		tcp_put_drops(w, &x->xlat, dk, &s, reply, !reply);
	} else {
		tcp_put_drops(w, &dk->flow, dk, &s, true, true);
	}
	if (s.count > TCP_MAX_SEGS)
		counter_add(COUNTER_TCP_DROPPED_UNRECORDED, s.count - TCP_MAX_SEGS);
	bpf_map_update_elem(&tcp_dropped_any, &zero, &one, BPF_ANY);
}

/* The counts below are read and written without atomics (5.10 has no
 * BPF compare-and-exchange): a segment's retransmissions are serialized
 * by its socket, and two CPUs dropping or receiving copies of one
 * segment at the same instant is what they would miss. */

/* tcp_sender_follows takes one of a segment's drops a retransmission
 * follows, if any is left. */
static __always_inline struct tcp_dropped *tcp_sender_follows(const struct tcp_seg *seg)
{
	struct tcp_dropped *d = bpf_map_lookup_elem(&tcp_dropped, seg);

	if (!d || !d->unmatched_by_sender)
		return 0;
	d->unmatched_by_sender--;
	return d;
}

/* The entry goes once both ends have followed all of its drops. */
static __always_inline void tcp_forget_if_done(const struct tcp_seg *seg, const struct tcp_dropped *d)
{
	if (!d->unmatched_by_sender && !d->unmatched_by_receiver && !bpf_map_delete_elem(&tcp_dropped, seg))
		counter_inc(COUNTER_TCP_DROPPED_MATCHED);
}

/* tcp_loss_entry finds or makes a flow direction's entry. */
static __always_inline struct tcp_loss_counts *tcp_loss_entry(const struct flow_key *key)
{
	struct tcp_loss_counts *l = bpf_map_lookup_elem(&tcp_loss, key);
	struct tcp_loss_counts fresh = {};
	long err;

	if (l)
		return l;
	err = bpf_map_update_elem(&tcp_loss, key, &fresh, BPF_NOEXIST);
	if (!err)
		counter_inc(COUNTER_TCP_LOSS_CREATED);
	return bpf_map_lookup_elem(&tcp_loss, key);
}

static __always_inline bool same_drop_place(const struct tcp_dropped *a, const struct tcp_dropped *b)
{
	return a->netns == b->netns && a->reason == b->reason && a->stage == b->stage && a->location == b->location;
}

/* tcp_retransmit_cb is the start of TCP_SKB_CB(skb) (struct tcp_skb_cb):
 * the range in the retransmit queue and tcp_skb_pcount / tcp_skb_mss. */
struct tcp_retransmit_cb {
	__u32 seq;
	__u32 end_seq;
	__u16 gso_segs;
	__u16 gso_size;
};

/* tcp_classify_segs gives each of count retransmitted segments from seq
 * (connection in tcp_walk) its verdict, into tcp_walk: dropped here (an
 * unmatched drop entry), beyond (at or after first, the first sequence
 * number the sender was seen to send; seen is 0 if none was) or unknown. */
__noinline int tcp_classify_segs(__u32 seq, __u32 mss, __u32 count, __u32 first, __u32 seen)
{
	struct tcp_walk *w = tcp_walk_get();

	if (!w)
		return 0;
	w->dropped_here = w->beyond = w->unknown = 0;
	w->mixed = 0;
	for (__u32 i = 0; i < TCP_MAX_SEGS; i++) {
		struct tcp_dropped *d;

		if (i >= count)
			break;
		w->seg.seq = seq + i * mss;
		d = tcp_sender_follows(&w->seg);
		if (d) {
			if (w->dropped_here && !same_drop_place(&w->dropped, d))
				w->mixed = 1;
			w->dropped = *d;
			w->dropped_here++;
			tcp_forget_if_done(&w->seg, d);
		} else if (seen && !seq_before(w->seg.seq, first)) {
			w->beyond++;
		} else {
			w->unknown++;
		}
	}
	if (count > TCP_MAX_SEGS)
		w->unknown += count - TCP_MAX_SEGS;
	return 0;
}

/* tcp_add_verdicts adds a retransmission's verdicts to its flow. */
static __always_inline void tcp_add_verdicts(const struct flow_key *key, __u32 count, const struct tcp_walk *w)
{
	struct tcp_loss_counts *l = tcp_loss_entry(key);

	if (!l) {
		counter_add(COUNTER_TCP_LOSS_UNRECORDED, count);
		return;
	}
	__sync_fetch_and_add(&l->retransmitted, count);
	__sync_fetch_and_add(&l->dropped_here, w->dropped_here);
	__sync_fetch_and_add(&l->beyond, w->beyond);
	__sync_fetch_and_add(&l->unknown, w->unknown);
	if (w->dropped_here) {
		struct tcp_dropped prev = {.netns = l->drop_netns, .reason = l->drop_reason,
					   .stage = l->drop_stage, .location = l->drop_location};
		if (w->mixed || (l->drop_location && !same_drop_place(&prev, &w->dropped)))
			l->drop_mixed = 1;
		l->drop_netns = w->dropped.netns;
		l->drop_reason = w->dropped.reason;
		l->drop_stage = w->dropped.stage;
		l->drop_location = w->dropped.location;
	}
}

/* tcp_note_retransmit classifies every wire segment of a retransmitted
 * skb. sk and skb are read with probe reads only, so that every hook
 * kind (tp_btf, raw_tp) can call it. */
static __always_inline void tcp_note_retransmit(const struct sock *sk, const struct sk_buff *skb)
{
	struct tcp_retransmit_cb cb;
	struct flow_key key = {};
	struct tcp_walk *w = tcp_walk_get();
	__u32 *first, snd_una, count, mss;

	if (!w || !tcp_key_of_sock(sk, &key) || !filter_match(&key) || !window_admits_untracked(key.netns))
		return;
	if (bpf_probe_read_kernel(&cb, sizeof(cb), (void *)skb + bpf_core_field_offset(struct sk_buff, cb)))
		return;
	count = cb.gso_segs ? cb.gso_segs : 1;
	mss = count > 1 ? cb.gso_size : cb.end_seq - cb.seq;
	tcp_conn_of_key(&key, &w->seg.conn);

	first = bpf_map_lookup_elem(&tcp_first_sent, &w->seg.conn);
	/* Below snd_una nothing is retransmitted: moving the mark up keeps
	 * the wrap-around comparison valid on connections sending more than
	 * 2 GiB. */
	snd_una = BPF_CORE_READ((struct tcp_sock *)sk, snd_una);
	if (first && seq_before(*first, snd_una))
		*first = snd_una;
	tcp_classify_segs(cb.seq, mss, count, first ? *first : 0, first != 0);
	tcp_add_verdicts(&key, count, w);
}

/* tcp_note_sent records the first new sequence number a connection sends
 * inside the window, at tx.queue in its own namespace. A SYN starts a new
 * connection on the same tuple. */
static __always_inline void tcp_note_sent(bool btf, struct sk_buff *skb, const struct flow_key *key,
					  const struct pkt_meta *meta)
{
	struct tcp_conn conn = {};
	struct tcp_segs s;
	__u32 snd_nxt;
	bool syn = meta->tcp_flags & TCP_FLAG_SYN;

	if (!tcp_segs_of_meta(key, meta, &s))
		return;
	tcp_conn_of_key(key, &conn);
	/* Once a connection's mark is set only a SYN moves it: the socket
	 * (four probe reads) is read for the first segments alone. */
	if (!syn && bpf_map_lookup_elem(&tcp_first_sent, &conn))
		return;
	if (!tcp_sender_snd_nxt(btf, skb, key, &snd_nxt) || s.seq != snd_nxt)
		return;
	bpf_map_update_elem(&tcp_first_sent, &conn, &s.seq, syn ? BPF_ANY : BPF_NOEXIST);
}

/* tcp_match_received_segs counts the drops of the segments (as
 * tcp_put_dropped_segs lays them out, connection in tcp_walk) that this
 * host made before and no arrival has followed yet. */
__noinline int tcp_match_received_segs(__u32 seq, __u32 mss, __u32 count)
{
	struct tcp_walk *w = tcp_walk_get();
	int n = 0;

	if (!w)
		return 0;
	for (__u32 i = 0; i < TCP_MAX_SEGS; i++) {
		struct tcp_dropped *d;

		if (i >= count)
			break;
		w->seg.seq = seq + i * mss;
		d = bpf_map_lookup_elem(&tcp_dropped, &w->seg);
		if (d && d->unmatched_by_receiver) {
			n += d->unmatched_by_receiver;
			d->unmatched_by_receiver = 0;
			tcp_forget_if_done(&w->seg, d);
		}
	}
	return n;
}

/* tcp_note_received counts segments arriving at l4.rcv that this host
 * dropped before: the receiver side of the match. */
static __always_inline void tcp_note_received(const struct flow_key *key, const struct pkt_meta *meta)
{
	struct tcp_walk *w;
	struct tcp_segs s;
	struct tcp_loss_counts *l;
	__u32 zero = 0, *any = bpf_map_lookup_elem(&tcp_dropped_any, &zero), *pending, left;
	int n;

	if (!any || !*any || !tcp_segs_of_meta(key, meta, &s))
		return;
	w = tcp_walk_get();
	if (!w)
		return;
	tcp_conn_of_key(key, &w->seg.conn);
	pending = bpf_map_lookup_elem(&tcp_rx_pending, &w->seg.conn);
	if (!pending || !*pending)
		return;
	n = tcp_match_received_segs(s.seq, s.mss, s.count);
	if (n <= 0)
		return;
	left = *pending; /* racy, like the hint it is: a wrong value costs walks, not counts */
	*pending = (__u32)n >= left ? 0 : left - n;
	l = tcp_loss_entry(key);
	if (l)
		__sync_fetch_and_add(&l->redelivered, n);
	else
		counter_add(COUNTER_TCP_LOSS_UNRECORDED, n);
}

/* tcp_note_stage: what a counted packet at a stage tells about TCP loss. */
static __always_inline void tcp_note_stage(bool btf, struct sk_buff *skb, enum stage st, const struct flow_key *key,
					   const struct pkt_meta *meta)
{
	if (!CFG.tcp_loss || key->proto != IPPROTO_TCP_)
		return;
	if (st == STAGE_TX_QUEUE)
		tcp_note_sent(btf, skb, key, meta);
	else if (st == STAGE_L4_RCV)
		tcp_note_received(key, meta);
}
