/* Run-time settings, written by the loader before the programs are
 * verified, so the verifier prunes the branches a run does not use. */
#pragma once

#include "vmlinux.h"

struct config {
	__u32 filter_netns;   /* netns inode, 0 = any */
	__u16 filter_port;    /* either port, host order, 0 = any */
	__u8 filter_proto;    /* IP protocol number, 0 = any */
	__u8 filter_family;   /* AF_INET / AF_INET6 when filter_host is set, else 0 */
	__u8 filter_host[16]; /* either address (IPv4 in the first 4 bytes) */
	__u32 events_rate;    /* drop events per second per CPU, 0 = no event stream */
	__u8 events_stack;    /* attach a kernel stack id to each event */
	__u8 pad[3];
};

volatile const struct config CFG = {};
