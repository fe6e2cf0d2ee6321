/* Stages of the kernel network path, in path order. The Go side reads this
 * enum through bpf2go (-type stage); the names users see live in
 * internal/stage. */
#pragma once

enum stage {
	STAGE_RX_DRIVER = 0,
	STAGE_RX_CORE,
	STAGE_IP_RCV,
	STAGE_IP_LOCAL_IN,
	STAGE_L4_RCV,
	STAGE_SOCK_RCV,
	STAGE_IP_FORWARD,
	STAGE_IP_LOCAL_OUT,
	STAGE_IP_POSTROUTING,
	STAGE_TX_QUEUE,
	STAGE_TX_XMIT,
	STAGE_TX_DONE,
	NR_STAGES,
	STAGE_NONE = 0xff, /* a drop before any hooked stage saw the packet */
};

/* Global counters: every packet or flow the tables could not hold is
 * counted here, so no loss is silent. */
enum counter {
	COUNTER_FLOWS_CREATED = 0,  /* flow entries this run inserted */
	COUNTER_FLOW_CREATE_FAILED, /* insert failed: packet counted in stage totals only */
	COUNTER_TX_DONE_UNMATCHED,  /* net_dev_xmit for an skb whose start_xmit we did not see */
	COUNTER_DROPS_UNRECORDED,   /* drop seen but its (flow, reason, location) entry could not be stored */
	COUNTER_EVENTS_LOST,        /* drop events the ring buffer had no room for */
	COUNTER_EVENTS_THROTTLED,   /* drop events over the --events-rate budget */
	COUNTER_DROP_ENTRIES_CREATED, /* drop table entries made (evicted = made - present) */
	COUNTER_IN_FLIGHT_AT_START, /* packets already on their path when the window opened: not counted */
	COUNTER_NETNS_UNHOOKED,     /* packets of a namespace whose hooks were not all attached yet: not counted */
	COUNTER_NETNS_NEWS_LOST,    /* new namespaces the ring buffer could not report (retried) */
	COUNTER_DROPS_OUTSIDE_WINDOW, /* drops of packets the window did not admit: not counted */
	COUNTER_NAT_SPLIT,          /* packets whose earlier stages counted them under another key than conntrack names (a translated reply not mapped back) */
	/* TCP loss (tcp_loss.h): */
	COUNTER_TCP_DROPPED_CREATED,  /* dropped-segment entries made (evicted = made - matched - present) */
	COUNTER_TCP_DROPPED_MATCHED,  /* entries deleted once both ends matched them */
	COUNTER_TCP_DROPPED_UNRECORDED, /* dropped segments with no entry: table refused, or beyond TCP_MAX_SEGS */
	COUNTER_TCP_LOSS_UNRECORDED,  /* retransmitted or redelivered segments whose connection entry could not be stored */
	COUNTER_TCP_LOSS_CREATED,     /* connection entries made (evicted = made - present) */
	NR_COUNTERS,
};
