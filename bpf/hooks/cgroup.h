/* cgroup_skb ingress on the cgroup v2 root: runs in sk_filter, after the
 * socket lookup and before the receive queue, for sockets of every
 * namespace. It never rejects a packet. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "../lib/kfuncs.h"
#include "../lib/count.h"


SEC("cgroup_skb/ingress")
int cg_sock_rcv(struct __sk_buff *ctx)
{
	struct sk_buff *skb = bpf_cast_to_kern_ctx(ctx);

	count_stage(skb, STAGE_SOCK_RCV, L3_AT_NETHDR, 0, 0);
	return 1;
}
