/* TCP retransmissions (tcp:tcp_retransmit_skb), matched to this host's
 * drops by bpf/lib/tcp_loss.h. The tracepoint exists since 4.15; its
 * arguments changed, so the hook plan tries these in order:
 * - tp_btf with err (6.18+: it fires for failed attempts too, err < 0);
 * - tp_btf without err (older: fires after a successful transmit only);
 * - raw_tp, for kernels that cannot attach tp_btf here. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../lib/tcp_loss.h"

#define EBUSY_ 16
#define EINVAL_ 22
#define ENOMEM_ 12
#define EAGAIN_ 11
#define EHOSTUNREACH_ 113

/* counted_by_mib: __tcp_retransmit_skb leaves with these before it adds
 * the skb's segments to TcpRetransSegs (routing, memory, window, still in
 * the host queue); any other error comes from the transmission itself,
 * after they were counted. */
static __always_inline bool counted_by_mib(int err)
{
	return err == 0 || !(err == -EBUSY_ || err == -EINVAL_ || err == -ENOMEM_ || err == -EAGAIN_ ||
			     err == -EHOSTUNREACH_);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tp_tcp_retransmit_skb, const struct sock *sk, const struct sk_buff *skb, int err)
{
	if (counted_by_mib(err))
		tcp_note_retransmit(sk, skb);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tp_tcp_retransmit_skb_noerr, const struct sock *sk, const struct sk_buff *skb)
{
	tcp_note_retransmit(sk, skb);
	return 0;
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(rtp_tcp_retransmit_skb, const struct sock *sk, const struct sk_buff *skb)
{
	tcp_note_retransmit(sk, skb);
	return 0;
}
