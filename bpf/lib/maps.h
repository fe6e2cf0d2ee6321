/* Every map of the dropspot object, with the types of its keys and values,
 * grouped by the concern that writes it. They are the object's interface
 * to user space (bpf2go names them in DropspotMaps, the loader sizes them
 * by name: --max-flows etc., so the sizes here are only defaults) and, in
 * sum, its memory: both are read here rather than across the headers that
 * use them. The code that reads and writes each map is named at its group. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "flow.h"
#include "stages.h"

/* ---- Counting: flow_table.h, counters.h ---- */

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

/* Global counters, one per enum counter (stages.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_COUNTERS);
	__type(key, enum counter);
	__type(value, __u64);
} counters SEC(".maps");

/* ---- Counting window: window.h ---- */

struct window {
	__u32 state;       /* enum window_state (window.h) */
	__u32 netns_gated; /* some hooks are per namespace: admit only in namespaces that have them all */
	__u32 generation;  /* bumped by user space; paths remember when they last moved */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct window);
} counting_window SEC(".maps");

/* Namespaces by inode: written READY by user space once it has attached
 * there, PENDING here the first time a packet of an unknown one is seen. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} netns_states SEC(".maps");

/* New namespaces, one inode each, so user space attaches at once instead
 * of waiting for a rescan. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} netns_news SEC(".maps");

/* A packet's path through one namespace, by skb address: the admission
 * decision its later stages follow, and the last stage it passed (the
 * stage a drop comes after). LRU: skbs freed without a drop leave their
 * entry behind until it is pushed out. */
struct skb_path {
	struct flow_key key; /* key.netns: the namespace of this path */
	__u32 generation;    /* window.generation when it last moved */
	__u32 segs;          /* wire packets of the skb when it last moved */
	__u16 stages;        /* a bit per stage passed */
	__u8 admitted;       /* counted: the path began while the window was open */
	__u8 last_stage;     /* enum stage */
	__u8 in_flight_noted; /* counted once as in flight at the window's start */
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct skb_path);
} skb_paths SEC(".maps");

/* The last admission decision per flow on each CPU, in a few slots picked
 * by a hash of the key: skbs made from another mid-path (GSO segments at
 * the device, clones for raw sockets) have no entry of their own and
 * follow their parent, which passed tx.queue or l4.rcv on this CPU just
 * before. Written at those two stages only, so that the other traffic of
 * the CPU (a connection's ACKs) rarely takes the slot in between. */
#define RECENT_SLOTS 64

struct recent_path {
	struct flow_key key;
	__u32 admitted;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RECENT_SLOTS);
	__type(key, __u32);
	__type(value, struct recent_path);
} recent_paths SEC(".maps");

/* ---- Bridges: bridge.h ---- */

/* The ports a bridged flow direction was seen to enter and leave by
 * (ifindexes in the flow's namespace). */
struct bridge_ports {
	__u32 in;
	__u32 out;
};

/* Written only for bridged packets, so the flows table stays as it is.
 * Sized like flows by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct bridge_ports);
} bridged SEC(".maps");

/* ---- Connections across NAT: nat.h ---- */

/* What nat_resolve found (bits). */
enum nat_flag {
	NAT_DNAT = 1, /* the destination is translated */
	NAT_SNAT = 2, /* the source is translated */
	NAT_CT = 4,   /* conntrack named the connection: its key is authoritative */
	NAT_BY_XLAT = 8, /* the filter passed the packet by its tuple after translation only */
	NAT_REPLY = 16,  /* translated, and a reply: its sender sees the tuple after translation */
};

/* Four entries per translated connection (per direction: its key to the
 * tuple after translation, and back); the key's netns is the namespace
 * that translates. */
struct nat_tuple {
	struct flow_key other; /* wire = 0: the tuple after translation; 1: the connection's key */
	__u8 kind;             /* NAT_DNAT | NAT_SNAT */
	__u8 wire;             /* the map key is a translated tuple as packets carry it */
	__u8 reply;            /* the map key is of the connection's reply direction */
	__u8 pad;
};

/* LRU: entries of ended connections are pushed out by new ones. Sized by
 * the loader at twice the flow table (--max-flows): two entries per
 * direction. A reply whose entry was pushed out while its connection
 * lives is counted under its own tuple at the stages before conntrack,
 * and the split in COUNTER_NAT_SPLIT. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct flow_key);
	__type(value, struct nat_tuple);
} nat_tuples SEC(".maps");

/* A bit per namespace (inode mod 64), set once a translated connection
 * of a namespace with that bit is remembered: a packet without conntrack
 * costs a map lookup only there, not on every namespace of a host where
 * one translates (a global: one direct load, in the object's .bss map). */
__u64 nat_netns_seen SEC(".bss");

/* nat.h's working space (too big for the stack of the hooks it is
 * inlined into): the tuple after translation of the packet at hand, and
 * what nat_remember writes. */
struct nat_scratch {
	struct flow_key xlat;
	struct flow_key rkey;  /* the connection's other direction */
	struct flow_key rxlat; /* its tuple after translation */
	struct nat_tuple v;
	struct nf_conntrack_tuple t;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat_scratch);
} nat_scratch SEC(".maps");

/* ---- Transmit completion: hooks/tracepoint.h ---- */

/* A packet handed to the driver, remembered until net_dev_xmit reports the
 * driver's verdict. By then the driver may have freed or forwarded the skb,
 * so tx.done must not read it: it matches the pointer only. start_xmit and
 * xmit run back to back on one CPU; stacked devices nest, hence a few
 * slots picked by pointer. */
#define TX_SLOTS 8

struct tx_inflight {
	__u64 skb;
	__u32 verdict;
	struct flow_key key;
	struct pkt_meta meta;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TX_SLOTS);
	__type(key, __u32);
	__type(value, struct tx_inflight);
} tx_inflight SEC(".maps");

/* ---- Drops: hooks/drop.h ---- */

struct drop_key {
	struct flow_key flow;
	__u32 reason; /* enum skb_drop_reason of the running kernel; 0 if it has none */
	__u8 stage;   /* last stage the packet passed, or STAGE_NONE */
	__u8 kind;    /* enum drop_kind */
	__u8 flags;   /* enum drop_flag */
	__u8 pad;
	__u32 ifindex; /* the skb's device when freed, 0 if none */
	__u32 pad2;
	__u64 location; /* address the skb was freed from */
};

/* LRU, like the flow table: a long-running exporter must keep recording
 * new drops after a port scan has filled the table; the entries pushed out
 * are counted (created - present). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct drop_key);
	__type(value, __u64);
} drops SEC(".maps");

/* Longest packet capture an event carries (--snaplen is capped to it). */
#define MAX_SNAPLEN 1024

struct drop_event {
	__u64 time_ns; /* bpf_ktime_get_ns */
	struct drop_key key;
	__s32 stack_id; /* into stacks, or negative */
	__u32 segs;
	__u32 caplen;  /* bytes of packet that follow, from the IP header */
	__u32 origlen; /* IP bytes of the packet */
	__u32 pad;
};

/* An event and its packet bytes, assembled per CPU and sent with only the
 * bytes captured, so short captures take little ring buffer. */
struct event_buf {
	struct drop_event e;
	__u8 packet[2 * MAX_SNAPLEN]; /* room for the verifier's bound, see emit_event */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_buf);
} event_buf SEC(".maps");

/* Drop events for user space (--events, -w): sized for bursts. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Kernel stacks of dropped packets (--stack), by drop_event.stack_id. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1024);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
} stacks SEC(".maps");

/* Per-CPU event budget for the current second. */
struct event_budget {
	__u64 second;
	__u32 used;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_budget);
} event_budget SEC(".maps");

/* ---- TCP loss: tcp_loss.h, hooks/tcp.h ---- */

/* A TCP connection direction as its sender sees it, without the namespace:
 * the drop hook sees the sender's segments in any namespace on the way
 * (a router's, the receiver's), the retransmit hook sees the sender's
 * socket. Addresses as in flow_key. */
struct tcp_conn {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 pad[3];
};

struct tcp_seg {
	struct tcp_conn conn;
	__u32 seq; /* first sequence number of one wire segment */
};

/* Where a segment was last dropped, and how many of its drops each end
 * has yet to follow: a drop is followed by one retransmission on the
 * sender and by the next arrival on the receiver. */
struct tcp_dropped {
	__u64 location;
	__u32 netns;
	__u32 reason;
	__u32 unmatched_by_sender;
	__u32 unmatched_by_receiver;
	__u8 stage;
	__u8 pad[7];
};

/* Segments this host dropped (data, SYN or FIN), one entry per wire
 * segment. LRU: entries neither end matches (a sender or receiver that
 * is not on this host) are pushed out by newer ones; evictions are
 * counted (COUNTER_TCP_DROPPED_*). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tcp_seg);
	__type(value, struct tcp_dropped);
} tcp_dropped SEC(".maps");

/* Per sending connection direction: the first new sequence number it sent
 * inside the counting window (at tx.queue, from its own socket). A
 * retransmission at or after it was seen leaving the sender before. Sized
 * like flows. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tcp_conn);
	__type(value, __u32);
} tcp_first_sent SEC(".maps");

/* Per flow direction (the flow table's key): its retransmitted segments by
 * verdict (sender side, the sender's namespace) and its segments that came
 * again after a drop here (receiver side, the receiver's namespace), with
 * the last drop here that a retransmission matched. Sized like flows. */
struct tcp_loss_counts {
	__u64 retransmitted;
	__u64 dropped_here;
	__u64 beyond;
	__u64 unknown;
	__u64 redelivered;
	__u64 drop_location;
	__u32 drop_netns;
	__u32 drop_reason;
	__u8 drop_stage;
	__u8 drop_mixed; /* matched drops were at more than one (netns, stage, reason, location) */
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct tcp_loss_counts);
} tcp_loss SEC(".maps");

/* The arguments of the segment walks (tcp_loss.h) that do not fit in a
 * global function's scalar arguments: one set per CPU. */
struct tcp_walk {
	struct tcp_seg seg;         /* the connection; seg.seq is set per segment */
	struct tcp_dropped dropped; /* tcp_put_dropped_segs: where; tcp_classify_segs: the last drop matched */
	/* tcp_classify_segs' verdicts */
	__u64 dropped_here;
	__u64 beyond;
	__u64 unknown;
	__u8 mixed; /* the drops matched were at more than one place */
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_walk);
} tcp_walk SEC(".maps");

/* Set to 1 by the first dropped segment recorded: until then receive
 * skips even the per-connection lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tcp_dropped_any SEC(".maps");

/* Per connection: its segments' drops no arrival has followed yet, so
 * that receive walks a packet's segments (a GRO packet's dozens of
 * lookups) only for connections with some. An entry pushed out of
 * tcp_dropped leaves the count high: more walks, never a wrong count.
 * Sized like flows. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tcp_conn);
	__type(value, __u32);
} tcp_rx_pending SEC(".maps");

/* ---- Pointer values: ptr_addr.h ---- */

/* One per-CPU word to turn a pointer into a number (ptr_addr). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ptr_scratch SEC(".maps");

/* ---- Parser self-test: hooks/selftest.h ---- */

struct selftest_result {
	enum parse_result ret;
	__u32 matched; /* the filter (CFG) passes the packet, parsed or not */
	struct flow_key key;
	struct pkt_meta meta;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct selftest_result);
} parse_results SEC(".maps");
