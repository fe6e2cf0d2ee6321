package dropreason

import "strings"

// Proof is what, besides its reason and function, shows a free benign.
type Proof uint8

const (
	// Always: the reason and the function are proof enough.
	Always Proof = iota
	// RawCopy: benign only as far as raw sockets received copies of the
	// flow's packets (see benign's NO_SOCKET entry). The report counts
	// them: with Build's flow counts, not here.
	RawCopy
	// NoPayload: benign only for TCP segments that carried no data.
	NoPayload
)

// Benign is a kind of free the kernel reports as a drop although it
// loses nothing the user cares about.
type Benign struct {
	Reason   string
	Function string // prefix of the freeing function; "" = any
	Proof    Proof
	// Explanation says what was freed and why nothing was lost.
	Explanation string
}

// benign are those kinds, checked on the 6.18 development kernel with
// tracefs skb:kfree_skb stacks. A kind belongs here only if no packet it
// covers can carry data that never reached its reader: a benign entry
// must never hide a loss.
const closedConnection = "A TCP segment without data (FIN, ACK or RST) for a connection already closed here: TCP frees it. A normal close; nothing was lost."

// NOT_SPECIFIED at tcp_v4_rcv/tcp_v6_rcv is here only for segments
// without data: all of tcp_v4_rcv's drops leave through one kfree call,
// so location and reason are the same for a FIN reaching a closed
// socket's timewait entry (a server that closes first: 14 of 20 closes
// measured) — benign — and for data sent to a socket its application has
// closed, answered by a reset — lost. The drop hook marks segments
// without payload (DROP_TCP_NO_PAYLOAD).
var benign = []Benign{
	{"NOT_SPECIFIED", "tcp_v4_rcv", NoPayload, closedConnection},
	{"NOT_SPECIFIED", "tcp_v6_rcv", NoPayload, closedConnection},
	// The same FIN when it finds the full socket already in TCP_CLOSE
	// (measured once in 16 server-first closes, IPv6).
	{"TCP_CLOSE", "tcp_rcv_state_process", NoPayload, closedConnection},
	// ping_rcv frees every echo reply that no ping socket (SOCK_DGRAM)
	// has the identifier of. Raw ICMP sockets (ping(8) without ping
	// sockets, traceroute, monitors) have by then each taken a copy in
	// raw_local_deliver, which passed the socket's filter: sock.rcv. A
	// reply nobody took a copy of is lost, as is a late reply to a ping
	// that gave up — so only as many as sock.rcv saw copies are benign.
	{"NO_SOCKET", "ping_rcv", RawCopy,
		"An ICMP echo reply no ping socket waited for, after a raw socket (ping, traceroute) had received its copy: the kernel frees the original. Nothing was lost."},
	// Closing a TCP socket drains its receive queue without reporting
	// drops. What an orphaned socket queues afterwards is the peer's
	// FIN: data arriving after close is refused with a reset
	// (TCP_ABORT_ON_DATA) instead. The FIN is freed with the socket when
	// it completes the close (inet_csk_destroy_sock).
	{"QUEUE_PURGE", "sk_stream_kill_queues", Always,
		"The peer's FIN, freed with a TCP socket its application had already closed: it carries no data. A normal close."},
	// Closing a UDP, raw or ping socket frees what its application left
	// unread (udp_destruct_common; inet_sock_destruct). Those packets
	// reached the socket (sock.rcv) — the application chose not to read
	// them, as TCP's close discards unread data without a drop report.
	{"NOT_SPECIFIED", "udp_destruct_common", Always,
		"Freed with its UDP socket: the datagram had reached the socket and was still unread when the application closed it. The network lost nothing; the application closed before reading."},
	{"QUEUE_PURGE", "inet_sock_destruct", Always,
		"Freed with its socket: the packet had reached the socket and was still unread when the application closed it. The network lost nothing; the application closed before reading."},
	// Wholly old segments: every byte had been received before, so
	// discarding the copy loses nothing (tcp_data_queue; tcp_sequence
	// for segments entirely before the window). Spurious retransmissions
	// (tail-loss probes, timers firing before a delayed ACK) make them
	// on healthy connections too.
	{"TCP_OLD_DATA", "", Always,
		"A retransmitted copy of data the receiver already had: TCP discards it and acknowledges again. Nothing was lost; many of these mean the sender retransmits too early (delayed ACKs) or after an earlier loss."},
	{"TCP_OLD_SEQUENCE", "", Always,
		"A copy of a segment entirely before the receive window (already received): TCP discards it. Nothing was lost."},
}

// BenignFree tells whether a drop of reason freed in function fn is of a
// benign kind, and which.
func BenignFree(reason, fn string) (Benign, bool) {
	for _, b := range benign {
		if b.Reason == reason && strings.HasPrefix(fn, b.Function) {
			return b, true
		}
	}
	return Benign{}, false
}
