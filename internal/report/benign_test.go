package report

import "testing"

func TestBenignAlone(t *testing.T) {
	for _, tc := range []struct {
		d    Drop
		want bool
	}{
		{Drop{Reason: "QUEUE_PURGE", Location: "sk_stream_kill_queues+0x57"}, true},
		{Drop{Reason: "NOT_SPECIFIED", Location: "tcp_v4_rcv+0x99", NoPayload: true}, true},
		{Drop{Reason: "NOT_SPECIFIED", Location: "tcp_v6_rcv+0x1a0", NoPayload: true}, true},
		{Drop{Reason: "TCP_CLOSE", Location: "tcp_rcv_state_process+0x1c6", NoPayload: true}, true},
		{Drop{Reason: "TCP_CLOSE", Location: "tcp_rcv_state_process+0x1c6"}, false},
		// Data to a closed socket: the same free, a loss.
		{Drop{Reason: "NOT_SPECIFIED", Location: "tcp_v4_rcv+0x99"}, false},
		// Proof is in the flow's counts: not from one packet.
		{Drop{Reason: "NO_SOCKET", Location: "ping_rcv+0xb3"}, false},
		{Drop{Reason: "NETFILTER_DROP", Location: "nft_do_chain+0x4a1"}, false},
	} {
		expl, got := BenignAlone(tc.d)
		if got != tc.want || got && expl == "" {
			t.Errorf("BenignAlone(%+v) = %q, %v; want %v", tc.d, expl, got, tc.want)
		}
	}
}
