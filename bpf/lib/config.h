/* Run-time settings, written by the loader before the programs are
 * verified, so the verifier prunes the branches a run does not use. */
#pragma once

#include "vmlinux.h"

/* The filter expression compiled (internal/filter) to a disjunction of
 * conjunctions: a packet passes if any rule has all its predicates true. */
#define MAX_RULES 8
#define MAX_PREDS 8

enum pred_kind {
	PRED_PROTO = 1, /* value = IP protocol number */
	PRED_FAMILY,    /* value = AF_INET / AF_INET6 */
	PRED_NET,       /* family, addr/mask against the ends dir names */
	PRED_PORT,      /* port_lo..port_hi against the ends dir names; TCP/UDP/SCTP only */
};

enum pred_dir {
	DIR_SRC = 1,
	DIR_DST = 2,
	DIR_EITHER = 3,
};

struct flt_pred {
	__u8 kind;   /* enum pred_kind */
	__u8 dir;    /* enum pred_dir */
	__u8 negate; /* the predicate is "not ..." */
	__u8 value;  /* PRED_PROTO, PRED_FAMILY; PRED_NET: the address family */
	__u16 port_lo;
	__u16 port_hi;
	__u32 addr[4]; /* network byte order, already masked */
	__u32 mask[4];
};

struct flt_rule {
	__u32 npreds;
	struct flt_pred preds[MAX_PREDS];
};

struct config {
	__u32 filter_netns;   /* netns inode, 0 = any */
	__u32 filter_ifindex; /* device (in filter_netns), 0 = any */
	__u32 nrules;       /* 0 = every packet passes */
	struct flt_rule rules[MAX_RULES];
	__u32 events_rate;  /* drop events per second per CPU, 0 = no event stream */
	__u8 events_stack;  /* attach a kernel stack id to each event */
	__u8 match_unparsed; /* the expression passes a frame that parsed into no flow */
	__u8 tcp_loss;       /* match retransmissions to drops: tcp.retransmit is hooked */
	__u8 pad;
	__u32 snaplen;      /* bytes of each dropped packet to put in its event (from the IP header) */
};

volatile const struct config CFG = {};

/* Never used by the programs: these carry the enums into BTF for bpf2go. */
const enum pred_kind *unused_pred_kind __attribute__((unused));
const enum pred_dir *unused_pred_dir __attribute__((unused));
