/* Parser and filter self-test: never attached. Tests run it with
 * BPF_PROG_TEST_RUN on crafted frames (the kernel builds an skb with the
 * network header set and data at the Ethernet header) and read back what
 * parse_skb made of them and whether the filter passed them. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "../lib/kfuncs.h"
#include "../lib/filter.h"
#include "../lib/maps.h"

static __always_inline int selftest(struct __sk_buff *ctx, enum l3_at at)
{
	struct sk_buff *skb = bpf_cast_to_kern_ctx(ctx);
	struct selftest_result r = {};
	__u32 zero = 0;

	r.ret = parse_skb(true, skb, at, &r.key, &r.meta);
	r.matched = r.ret == PARSE_OK ? filter_match(&r.key) : unparsed_match(skb);
	bpf_map_update_elem(&parse_results, &zero, &r, BPF_ANY);
	return 0;
}

/* As at netfilter and transmit hooks: the IP header at network_header. */
SEC("tc")
int selftest_parse_nethdr(struct __sk_buff *ctx)
{
	return selftest(ctx, L3_AT_NETHDR);
}

/* As at eth_type_trans: data at the Ethernet header, VLAN tags in line. */
SEC("tc")
int selftest_parse_mac(struct __sk_buff *ctx)
{
	return selftest(ctx, L3_AT_MAC);
}
