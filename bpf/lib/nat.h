/* One connection across NAT: the key a packet is counted under is its
 * connection as the originator sees it, whatever translations it went
 * through in this namespace.
 *
 * Where conntrack has run in the packet's namespace (after its hooks at
 * PRE_ROUTING / LOCAL_OUT priority -200), skb->_nfct names the entry:
 * its ORIGINAL tuple is the key of the original direction, reversed the
 * key of replies. Stages before conntrack (the receive stages, ip.rcv at
 * first priority, ip.local_out at first priority) and after the kernel
 * let go of the entry (socket receive) see the packet's own tuple, which
 * for a translated packet is the translated one: nat_tuples maps it back.
 * Costs: one direct load of _nfct per packet; the conntrack entry is a
 * plain address (struct nf_conn may be in a module's BTF), so its status
 * and tuples are probe reads (~24 ns each), the tuples only when
 * translated; the map only once some translation was seen. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "filter.h"
#include "flow.h"
#include "maps.h"

#define NFCT_INFOMASK 7UL
/* enum ip_conntrack_status (uapi): set once a translation is bound. */
#define CT_STATUS_SRC_NAT (1UL << 4)
#define CT_STATUS_DST_NAT (1UL << 5)

/* A key with its ends swapped: the other direction of a connection. */
static __always_inline void key_reverse(struct flow_key *r, const struct flow_key *k)
{
	*r = *k;
	__builtin_memcpy(r->saddr, k->daddr, 16);
	__builtin_memcpy(r->daddr, k->saddr, 16);
	r->sport = k->dport;
	r->dport = k->sport;
	if (k->echo)
		r->echo = k->echo == ICMP_ECHO_REQUEST ? ICMP_ECHO_REPLY : ICMP_ECHO_REQUEST;
}

/* key_from_tuple puts a conntrack tuple's ends into a key the parser made
 * (family, proto, echo and netns stay), swapped when `reverse`. ICMP echo
 * keeps the identifier in both ports, as the parser does; conntrack holds
 * it in the source "port". */
static __always_inline void key_from_tuple(struct flow_key *k, const struct nf_conntrack_tuple *t, bool reverse)
{
	const union nf_inet_addr *s = reverse ? &t->dst.u3 : &t->src.u3;
	const union nf_inet_addr *d = reverse ? &t->src.u3 : &t->dst.u3;
	__u16 sp = bpf_ntohs(t->src.u.all), dp = bpf_ntohs(t->dst.u.all);

	__builtin_memset(k->saddr, 0, 16);
	__builtin_memset(k->daddr, 0, 16);
	if (k->family == AF_INET) {
		__builtin_memcpy(k->saddr, s, 4);
		__builtin_memcpy(k->daddr, d, 4);
	} else {
		__builtin_memcpy(k->saddr, s, 16);
		__builtin_memcpy(k->daddr, d, 16);
	}
	if (k->echo) {
		k->sport = sp;
		k->dport = sp;
	} else {
		k->sport = reverse ? dp : sp;
		k->dport = reverse ? sp : dp;
	}
}

static __always_inline __u64 nat_netns_bit(__u32 netns)
{
	return 1ULL << (netns % 64);
}

/* nat_netns_maybe: a namespace where translated connections may have been
 * remembered (nat_netns_seen). */
static __always_inline bool nat_netns_maybe(__u32 netns)
{
	return nat_netns_seen & nat_netns_bit(netns);
}

static __always_inline struct nat_scratch *nat_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&nat_scratch, &zero);
}

/* nat_remember records a translated connection, both directions, each
 * both ways: the connection's key to the tuple after translation (for
 * user space and the filter), and that tuple back to the key (for stages
 * without conntrack). Once per connection while it stays in the map.
 * reply: key is of the connection's reply direction. */
static __always_inline void nat_remember(struct nat_scratch *w, const struct flow_key *key, __u8 kind, bool reply)
{
	if (bpf_map_lookup_elem(&nat_tuples, key))
		return;
	key_reverse(&w->rkey, key);
	key_reverse(&w->rxlat, &w->xlat);
	__builtin_memset(&w->v, 0, sizeof(w->v));
	w->v.kind = kind;
	w->v.other = w->xlat;
	w->v.reply = reply;
	bpf_map_update_elem(&nat_tuples, key, &w->v, BPF_ANY);
	w->v.other = w->rxlat;
	w->v.reply = !reply;
	bpf_map_update_elem(&nat_tuples, &w->rkey, &w->v, BPF_ANY);
	w->v.wire = 1;
	w->v.other = *key;
	w->v.reply = reply;
	bpf_map_update_elem(&nat_tuples, &w->xlat, &w->v, BPF_ANY);
	w->v.other = w->rkey;
	w->v.reply = !reply;
	bpf_map_update_elem(&nat_tuples, &w->rxlat, &w->v, BPF_ANY);
}

/* nat_from_ct: the packet's connection per its conntrack entry. A
 * translated one rewrites key (and fills the scratch's xlat); an
 * untranslated one, or an ICMP error RELATED to one (its own tuple is an
 * error's), keeps it. */
static __always_inline __u32 nat_from_ct(unsigned long nfct, struct flow_key *key)
{
	struct nf_conn *ct = (void *)(nfct & ~NFCT_INFOMASK);
	__u32 info = nfct & NFCT_INFOMASK;
	unsigned long status = 0;
	struct nat_scratch *w;
	bool reply = info >= IP_CT_IS_REPLY;
	__u32 kind = 0;

	if (!bpf_core_type_exists(struct nf_conn)) /* conntrack never loaded */
		return NAT_CT;
	if (info == IP_CT_RELATED || info == IP_CT_RELATED_REPLY)
		return NAT_CT;
	bpf_core_read(&status, sizeof(status), &ct->status);
	if (status & CT_STATUS_DST_NAT)
		kind |= NAT_DNAT;
	if (status & CT_STATUS_SRC_NAT)
		kind |= NAT_SNAT;
	w = kind ? nat_scratch_get() : 0;
	if (!w)
		return NAT_CT;
	if (bpf_core_read(&w->t, sizeof(w->t), &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple))
		return NAT_CT;
	w->xlat = *key;
	key_from_tuple(key, &w->t, reply);
	if (bpf_core_read(&w->t, sizeof(w->t), &ct->tuplehash[IP_CT_DIR_REPLY].tuple))
		return NAT_CT;
	/* After translation the original direction is the reply tuple
	 * reversed; a reply, before it is undone, the reply tuple. */
	key_from_tuple(&w->xlat, &w->t, !reply);
	nat_remember(w, key, kind, reply);
	/* Checked on every translated packet: a bit another CPU's plain
	 * store overwrote comes back (atomic OR needs 5.12). */
	if (!nat_netns_maybe(key->netns))
		nat_netns_seen |= nat_netns_bit(key->netns);
	return NAT_CT | kind | (reply ? NAT_REPLY : 0);
}

/* nat_from_map: a packet without conntrack here, by its own tuple. */
static __always_inline __u32 nat_from_map(struct flow_key *key)
{
	struct nat_tuple *e = bpf_map_lookup_elem(&nat_tuples, key);
	struct nat_scratch *w;

	if (!e)
		return 0;
	w = nat_scratch_get();
	if (!w)
		return 0;
	if (e->wire) {
		w->xlat = *key;
		*key = e->other;
	} else {
		w->xlat = e->other;
	}
	return e->kind | (e->reply ? NAT_REPLY : 0);
}

/* nat_resolve turns the key parse_skb made into the connection's key.
 * Returns enum nat_flag bits: NAT_CT when conntrack decided (the key is
 * then authoritative), NAT_DNAT/NAT_SNAT when the connection is
 * translated (nat_xlat() is then the tuple after translation). */
static __always_inline __u32 nat_resolve(bool btf, struct sk_buff *skb, struct flow_key *key)
{
	unsigned long nfct = 0;

	if (bpf_core_field_exists(skb->_nfct))
		nfct = KREAD(btf, skb->_nfct, skb, _nfct);
	if (nfct & ~NFCT_INFOMASK)
		return nat_from_ct(nfct, key);
	if (!nat_netns_maybe(key->netns))
		return 0;
	return nat_from_map(key);
}

/* nat_xlat_match: the filter on the tuple after translation, for a
 * packet nat_resolve found translated. */
static __always_inline bool nat_xlat_match(void)
{
	struct nat_scratch *w = nat_scratch_get();

	return w && filter_match(&w->xlat);
}

/* Never used by the programs: carries the enum into BTF for bpf2go. */
const enum nat_flag *unused_nat_flag __attribute__((unused));
