/* Flow key and packet parsing. One key per direction (src -> dst) per
 * network namespace; user space pairs the two directions of a connection. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define AF_INET 2
#define AF_INET6 10

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_HLEN 14

#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_UDPLITE_ 136
#define IPPROTO_SCTP_ 132

/* TCP header flags (byte 13), each taking one sequence number when set. */
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02

/* IPv6 extension headers walked before the transport header. */
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60
#define MAX_IPV6_EXT_HDRS 6
#define MAX_VLAN_TAGS 2

/* ICMP echo messages keep their identifier in the ports, so the key says
 * which of the two they are. */
enum icmp_echo {
	ICMP_NOT_ECHO = 0,
	ICMP_ECHO_REQUEST,
	ICMP_ECHO_REPLY,
};

/* Never used by the programs: carries the enum into BTF for bpf2go. */
const enum icmp_echo *unused_icmp_echo __attribute__((unused));

struct flow_key {
	__u8 saddr[16]; /* IPv4 uses the first 4 bytes */
	__u8 daddr[16];
	__u16 sport; /* host order; ICMP echo: identifier in both ports */
	__u16 dport; /* other ICMP: type in sport, code in dport */
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 proto;  /* IP protocol number */
	__u8 echo;   /* enum icmp_echo */
	__u8 pad;
	__u32 netns; /* network namespace inode */
};

/* Where the IP header of an skb starts at a given hook. */
enum l3_at {
	L3_AT_DATA,   /* receive before __netif_receive_skb_core resets the header */
	L3_AT_NETHDR, /* skb->network_header is valid: netfilter, output, transmit */
	L3_AT_MAC,    /* eth_type_trans entry: data points at the Ethernet header */
};

enum parse_result {
	PARSE_OK = 0,
	PARSE_NOT_IP,    /* ARP, LLDP ...: counted, not a flow */
	PARSE_MALFORMED, /* truncated or inconsistent IP header */
};

/* Packet facts a stage counts, besides the key. */
struct pkt_meta {
	__u32 segs;   /* wire packets: max(1, gso_segs) */
	__u32 bytes;  /* IP bytes on the wire (all segments) */
	__u32 l3_off; /* IP header, from skb->head (for packet capture) */
	__u32 l3_cap; /* bytes from there that are in the linear part */
	__u32 l4_payload; /* transport payload bytes per the IP length; L4_PAYLOAD_UNKNOWN if none given */
	__u32 nat;    /* enum nat_flag bits (nat.h): how the key was found */
	/* TCP only (bpf/lib/tcp_loss.h): the sequence range the skb carries. */
	__u32 tcp_seq;
	__u32 tcp_seqlen; /* payload of every segment, + 1 for SYN and for FIN */
	__u16 gso_size;   /* payload per segment of a super-packet, else 0 */
	__u8 tcp_flags;
	__u8 pad;
};

#define L4_PAYLOAD_UNKNOWN 0xffffffff

/* The transport header bytes the key needs: ports, ICMP type/code/id,
 * TCP data offset (byte 12). */
#define L4_BYTES 16

/* parse_l4 fills ports (or the ICMP identifier) from the transport
 * header's first bytes, and its length when a GSO packet's wire bytes
 * need it; for TCP the sequence number and flags too. */
static __always_inline void parse_l4(struct flow_key *key, const __u8 *l4, __u32 *hdrlen, struct pkt_meta *meta)
{
	switch (key->proto) {
	case IPPROTO_TCP_:
		*hdrlen += (l4[12] >> 4) * 4;
		meta->tcp_seq = ((__u32)l4[4] << 24) | ((__u32)l4[5] << 16) | ((__u32)l4[6] << 8) | l4[7];
		meta->tcp_flags = l4[13];
		break;
	case IPPROTO_UDP_:
	case IPPROTO_UDPLITE_:
		*hdrlen += 8;
		break;
	case IPPROTO_SCTP_:
		break;
	case IPPROTO_ICMP_:
	case IPPROTO_ICMPV6_: {
		__u8 req = key->proto == IPPROTO_ICMP_ ? 8 : 128;
		__u8 rep = key->proto == IPPROTO_ICMP_ ? 0 : 129;
		/* Echo request/reply carry the identifier in both ports so
		 * the two directions of a ping pair up; other types carry
		 * type and code. */
		if (l4[0] == req || l4[0] == rep) {
			key->sport = (l4[4] << 8) | l4[5];
			key->dport = key->sport;
			key->echo = l4[0] == req ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY;
		} else {
			key->sport = l4[0];
			key->dport = l4[1];
		}
		return;
	}
	default:
		return; /* other protocols: ports stay 0 */
	}
	key->sport = (l4[0] << 8) | l4[1];
	key->dport = (l4[2] << 8) | l4[3];
}

/* read_l4 reads the transport header where it did not come with the IP
 * header (IPv4 options, IPv6 extension headers). */
static __always_inline int read_l4(struct flow_key *key, const unsigned char *l4, __u32 *hdrlen,
				   struct pkt_meta *meta)
{
	__u8 b[L4_BYTES];

	if (bpf_probe_read_kernel(b, sizeof(b), l4))
		return PARSE_MALFORMED;
	parse_l4(key, b, hdrlen, meta);
	return PARSE_OK;
}

/* The IP header and the transport bytes after it, read at once: one probe
 * read per packet in the common case (measured ~24 ns each). */
struct ipv4_l4 {
	struct iphdr ip;
	__u8 l4[L4_BYTES];
};

struct ipv6_l4 {
	struct ipv6hdr ip6;
	__u8 l4[L4_BYTES];
};

static __always_inline int parse_ipv4(struct flow_key *key, const unsigned char *l3, __u32 *hdrlen,
				      __u32 *iplen, struct pkt_meta *meta)
{
	struct ipv4_l4 h;
	/* The combined read fails near the end of mapped memory: then the
	 * header alone, and the transport bytes on their own. */
	bool with_l4 = !bpf_probe_read_kernel(&h, sizeof(h), l3);

	if (!with_l4 && bpf_probe_read_kernel(&h.ip, sizeof(h.ip), l3))
		return PARSE_MALFORMED;
	if (h.ip.version != 4 || h.ip.ihl < 5)
		return PARSE_MALFORMED;
	key->family = AF_INET;
	key->proto = h.ip.protocol;
	__builtin_memcpy(key->saddr, &h.ip.saddr, 4);
	__builtin_memcpy(key->daddr, &h.ip.daddr, 4);
	*hdrlen = h.ip.ihl * 4;
	*iplen = bpf_ntohs(h.ip.tot_len);
	/* Non-first fragments have no transport header: ports stay 0. */
	if (bpf_ntohs(h.ip.frag_off) & 0x1fff)
		return PARSE_OK;
	if (h.ip.ihl == 5 && with_l4) {
		parse_l4(key, h.l4, hdrlen, meta);
		return PARSE_OK;
	}
	return read_l4(key, l3 + h.ip.ihl * 4, hdrlen, meta);
}

static __always_inline bool is_ipv6_ext(__u8 next)
{
	return next == NEXTHDR_HOP || next == NEXTHDR_ROUTING || next == NEXTHDR_FRAGMENT ||
	       next == NEXTHDR_AUTH || next == NEXTHDR_DEST;
}

static __always_inline int parse_ipv6(struct flow_key *key, const unsigned char *l3, __u32 *hdrlen,
				      __u32 *iplen, struct pkt_meta *meta)
{
	struct ipv6_l4 h;
	__u32 off = sizeof(h.ip6);
	bool with_l4 = !bpf_probe_read_kernel(&h, sizeof(h), l3);
	__u8 next;

	if (!with_l4 && bpf_probe_read_kernel(&h.ip6, sizeof(h.ip6), l3))
		return PARSE_MALFORMED;
	if (h.ip6.version != 6)
		return PARSE_MALFORMED;
	key->family = AF_INET6;
	*iplen = bpf_ntohs(h.ip6.payload_len) + sizeof(h.ip6);
	__builtin_memcpy(key->saddr, &h.ip6.saddr, 16);
	__builtin_memcpy(key->daddr, &h.ip6.daddr, 16);
	next = h.ip6.nexthdr;
	if (!is_ipv6_ext(next) && with_l4) {
		key->proto = next;
		*hdrlen = off;
		parse_l4(key, h.l4, hdrlen, meta);
		return PARSE_OK;
	}

#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT_HDRS; i++) {
		struct {
			__u8 next;
			__u8 len;
			__u16 frag_off; /* fragment header only */
		} ext;

		if (!is_ipv6_ext(next))
			break;
		if (bpf_probe_read_kernel(&ext, sizeof(ext), l3 + off))
			return PARSE_MALFORMED;
		if (next == NEXTHDR_FRAGMENT) {
			off += 8;
			if (bpf_ntohs(ext.frag_off) & 0xfff8) {
				/* Non-first fragment: no transport header. */
				key->proto = ext.next;
				*hdrlen = off;
				return PARSE_OK;
			}
		} else if (next == NEXTHDR_AUTH) {
			off += (ext.len + 2) * 4;
		} else {
			off += (ext.len + 1) * 8;
		}
		next = ext.next;
	}
	key->proto = next;
	*hdrlen = off;
	return read_l4(key, l3 + off, hdrlen, meta);
}

/* KREAD reads a field of a kernel object: a direct load where the program
 * holds a BTF-typed pointer (tracepoints, fentry, netfilter, cgroup_skb via
 * bpf_cast_to_kern_ctx; a faulting load reads 0), else a probe read
 * (kprobes, whose arguments are plain numbers). `btf` is a constant at
 * every call site once inlined, so only one branch is compiled. Measured
 * here: a probe read costs ~24 ns, a direct load nothing measurable — the
 * parser's dozen field reads were most of a hook's cost. */
#define KREAD(btf, direct, ...) ((btf) ? (direct) : BPF_CORE_READ(__VA_ARGS__))

static __always_inline __u32 dev_netns(bool btf, struct net_device *dev)
{
	return KREAD(btf, dev->nd_net.net->ns.inum, dev, nd_net.net, ns.inum);
}

/* The namespace a packet is in: its device's, else its socket's. */
static __always_inline __u32 skb_netns(bool btf, struct sk_buff *skb)
{
	struct net_device *dev = KREAD(btf, skb->dev, skb, dev);
	struct sock *sk;

	if (dev)
		return dev_netns(btf, dev);
	sk = KREAD(btf, skb->sk, skb, sk);
	if (sk)
		return KREAD(btf, sk->__sk_common.skc_net.net->ns.inum, sk, __sk_common.skc_net.net, ns.inum);
	return 0;
}

/* parse_skb fills key and meta from an skb at a hook where the IP header
 * sits where `at` says. Packet bytes are read with bpf_probe_read_kernel
 * (head + offset is no typed pointer); skb fields per KREAD. */
static __always_inline int parse_skb(bool btf, struct sk_buff *skb, enum l3_at at, struct flow_key *key,
				     struct pkt_meta *meta)
{
	unsigned char *head = KREAD(btf, skb->head, skb, head);
	unsigned char *data = KREAD(btf, skb->data, skb, data);
	unsigned char *l3;
	__u16 proto = KREAD(btf, skb->protocol, skb, protocol);
	__u32 hdrlen = 0, iplen = 0, l3len;
	int ret;

	if (at == L3_AT_NETHDR) {
		l3 = head + KREAD(btf, skb->network_header, skb, network_header);
	} else {
		l3 = data;
		if (at == L3_AT_MAC) {
			if (bpf_probe_read_kernel(&proto, sizeof(proto), data + 12))
				return PARSE_MALFORMED;
			l3 += ETH_HLEN;
		}
#pragma unroll
		for (int i = 0; i < MAX_VLAN_TAGS; i++) {
			if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
				break;
			if (bpf_probe_read_kernel(&proto, sizeof(proto), l3 + 2))
				return PARSE_MALFORMED;
			l3 += 4;
		}
	}

	if (at == L3_AT_NETHDR && (proto == 0 || proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))) {
		/* The network header is set but skb->protocol does not name
		 * IP: a tagged frame, or a locally made packet before IP
		 * output sets the protocol (ip_local_out entry). The IP
		 * version tells the family. */
		__u8 v;
		if (bpf_probe_read_kernel(&v, 1, l3))
			return PARSE_MALFORMED;
		proto = (v >> 4) == 4 ? bpf_htons(ETH_P_IP) : (v >> 4) == 6 ? bpf_htons(ETH_P_IPV6) : proto;
	}

	if (proto == bpf_htons(ETH_P_IP))
		ret = parse_ipv4(key, l3, &hdrlen, &iplen, meta);
	else if (proto == bpf_htons(ETH_P_IPV6))
		ret = parse_ipv6(key, l3, &hdrlen, &iplen, meta);
	else
		return PARSE_NOT_IP;
	if (ret != PARSE_OK)
		return ret;

	/* A GRO/GSO super-packet stands for gso_segs packets on the wire,
	 * each with its own copy of the headers. */
	__u32 len = KREAD(btf, skb->len, skb, len);
	__u32 data_len = KREAD(btf, skb->data_len, skb, data_len);
	__u16 segs = 0, gso_size = 0;

	/* Only a paged skb can be a GSO/GRO super-packet (TCP, UDP GSO and
	 * GRO put the payload in page fragments), so linear ones skip the
	 * probe read of skb_shinfo (head + end is no typed pointer). */
	if (data_len) {
		struct skb_shared_info *shinfo = (void *)(head + KREAD(btf, skb->end, skb, end));
		segs = BPF_CORE_READ(shinfo, gso_segs);
		if (segs > 1 && key->proto == IPPROTO_TCP_)
			gso_size = BPF_CORE_READ(shinfo, gso_size);
	}

	l3len = len - (__u32)(l3 - data);
	meta->segs = 1;
	if (segs > 1) {
		meta->segs = segs;
		l3len += (segs - 1) * hdrlen;
	} else if (iplen && iplen < l3len) {
		/* Link-layer padding of short frames is not IP bytes (IP
		 * receive trims it; stages before that must agree). */
		l3len = iplen;
	}
	meta->bytes = l3len;
	/* A super-packet's IP length is one segment's, or 0 (TSO, BIG TCP). */
	meta->l4_payload = iplen >= hdrlen && segs <= 1 ? iplen - hdrlen : L4_PAYLOAD_UNKNOWN;
	if (key->proto == IPPROTO_TCP_) {
		/* A super-packet: its payload is all but one set of headers. */
		__u32 payload = segs > 1 ? len - (__u32)(l3 - data) - hdrlen : meta->l4_payload;

		if (payload == L4_PAYLOAD_UNKNOWN)
			payload = 0;
		meta->tcp_seqlen = payload + !!(meta->tcp_flags & TCP_FLAG_SYN) + !!(meta->tcp_flags & TCP_FLAG_FIN);
		meta->gso_size = gso_size;
	}
	meta->l3_off = l3 - head;
	meta->l3_cap = (data + len - data_len) - l3;
	return PARSE_OK;
}
