/* The global counters (enum counter in stages.h): every packet or flow the
 * tables could not hold is counted, so no loss is silent. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.h"

static __always_inline void counter_add(enum counter c, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);

	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline void counter_inc(enum counter c)
{
	counter_add(c, 1);
}
