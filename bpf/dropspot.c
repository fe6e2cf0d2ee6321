// SPDX-License-Identifier: GPL-2.0
/* dropspot's BPF programs: one object, every hook family. The loader keeps
 * only the programs its hook plan chose (see internal/hookplan). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "hooks/tracepoint.h"
#include "hooks/netfilter.h"
#include "hooks/cgroup.h"
#include "hooks/function.h"
#include "hooks/drop.h"
#include "hooks/tcp.h"
#include "hooks/selftest.h"

char LICENSE[] SEC("license") = "GPL";
