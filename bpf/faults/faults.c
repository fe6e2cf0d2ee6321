// SPDX-License-Identifier: GPL-2.0
/* Fault injectors for `dropspot demo` and the drop tests (internal/faults).
 * Not part of the tracer: each program drops chosen packets on purpose and
 * counts what it dropped, an independent ground truth for what dropspot
 * reports. User space sets cfg before loading and loads one copy of the
 * object per fault, so every fault has its own settings and counter.
 *
 * Both programs match TCP/UDP packets by destination port, IPv4 or IPv6
 * (IPv6 only without extension headers: enough for the packets the faults
 * are aimed at, and anything else passes untouched). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define NF_DROP 0
#define NF_ACCEPT 1

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IP_OFFSET_MASK 0x1fff

/* Protocols a fault drops (bit mask, as internal/faults.Proto). */
enum fault_proto {
	FAULT_UDP = 1,
	FAULT_TCP = 2,
};

struct fault_cfg {
	__u16 port;  /* destination port, host order */
	__u8 protos; /* enum fault_proto bits */
	__u8 pad;
	/* Netfilter only: drop every every-th matching packet that is longer
	 * than DATA_LEN (a TCP segment with data, not a bare ACK), like nft's
	 * `numgen inc mod every 0`; 0 drops every matching packet. */
	__u32 every;
};

#define DATA_LEN 100

volatile const struct fault_cfg cfg = {};

/* Packets dropped, in wire packets (max(1, gso_segs)), the unit dropspot
 * counts in: a GRO super-packet dropped whole is several packets. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps");

static __always_inline bool wanted(__u8 proto, __be16 dport)
{
	if (proto == IPPROTO_UDP_ && !(cfg.protos & FAULT_UDP))
		return false;
	if (proto == IPPROTO_TCP_ && !(cfg.protos & FAULT_TCP))
		return false;
	if (proto != IPPROTO_UDP_ && proto != IPPROTO_TCP_)
		return false;
	return bpf_ntohs(dport) == cfg.port;
}

static __always_inline void count(__u32 segs)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&dropped, &zero);

	if (n)
		__sync_fetch_and_add(n, segs ? segs : 1);
}

/* Matching data packets seen, for cfg.every. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

/* nth_data says whether this matching packet is one cfg.every picks. */
static __always_inline bool nth_data(struct sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *n;

	if (!cfg.every)
		return true;
	if (BPF_CORE_READ(skb, len) <= DATA_LEN)
		return false;
	n = bpf_map_lookup_elem(&seen, &zero);
	return n && __sync_fetch_and_add(n, 1) % cfg.every == 0;
}

/* Netfilter (BPF link, any hook): the skb's network header is set, the
 * packet is read through kernel pointers. */
static __always_inline bool nf_match(struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *l3 = head + BPF_CORE_READ(skb, network_header);
	__u32 l4off;
	__be16 ports[2];
	__u8 proto, version;

	if (bpf_probe_read_kernel(&version, 1, l3))
		return false;
	version >>= 4;
	if (version == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), l3) || ip.ihl < 5)
			return false;
		/* Non-first fragments carry no ports. (LOCAL_IN sees
		 * reassembled packets; other hooks may not.) */
		if (bpf_ntohs(ip.frag_off) & IP_OFFSET_MASK)
			return false;
		proto = ip.protocol;
		l4off = ip.ihl * 4;
	} else if (version == 6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), l3))
			return false;
		proto = ip6.nexthdr;
		l4off = sizeof(ip6);
	} else {
		return false;
	}
	if (bpf_probe_read_kernel(ports, sizeof(ports), l3 + l4off))
		return false;
	return wanted(proto, ports[1]);
}

SEC("netfilter")
int fault_nf_drop(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	struct skb_shared_info *shinfo;

	if (!nf_match(skb) || !nth_data(skb))
		return NF_ACCEPT;
	/* skb_shinfo(skb): the shared info sits at head + end. */
	shinfo = (void *)(BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, end));
	count(BPF_CORE_READ(shinfo, gso_segs));
	return NF_DROP;
}

/* tcx ingress: the packet starts at the Ethernet header (no VLAN tags:
 * tagged frames pass). */
static __always_inline bool tc_match(struct __sk_buff *skb)
{
	__u32 l4off = ETH_HLEN;
	__be16 ports[2];
	__u8 proto;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) || ip.ihl < 5)
			return false;
		if (bpf_ntohs(ip.frag_off) & IP_OFFSET_MASK)
			return false;
		proto = ip.protocol;
		l4off += ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)))
			return false;
		proto = ip6.nexthdr;
		l4off += sizeof(ip6);
	} else {
		return false;
	}
	if (bpf_skb_load_bytes(skb, l4off, ports, sizeof(ports)))
		return false;
	return wanted(proto, ports[1]);
}

SEC("tcx/ingress")
int fault_tc_drop(struct __sk_buff *skb)
{
	if (!tc_match(skb))
		return TCX_NEXT;
	count(skb->gso_segs);
	return TCX_DROP; /* TC_ACT_SHOT */
}

/* XDP: the frame as the driver has it, read directly (bounds checked). */
static __always_inline bool xdp_match(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 l4off = ETH_HLEN;
	__be16 *ports;
	__u8 proto;

	if ((void *)(eth + 1) > end)
		return false;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + ETH_HLEN;

		if ((void *)(ip + 1) > end || ip->ihl < 5 || (bpf_ntohs(ip->frag_off) & IP_OFFSET_MASK))
			return false;
		proto = ip->protocol;
		l4off += ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + ETH_HLEN;

		if ((void *)(ip6 + 1) > end)
			return false;
		proto = ip6->nexthdr;
		l4off += sizeof(*ip6);
	} else {
		return false;
	}
	if (l4off > 128)
		return false;
	ports = data + l4off;
	if ((void *)(ports + 2) > end)
		return false;
	return wanted(proto, ports[1]);
}

SEC("xdp")
int fault_xdp_drop(struct xdp_md *ctx)
{
	if (!xdp_match(ctx))
		return XDP_PASS;
	count(1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
