// Package flow turns the BPF flow table into Go values: keys, per-stage
// counts and the loss counters that say what the table could not hold.
package flow

import (
	"fmt"
	"net/netip"

	"github.com/dropspot/dropspot/internal/bpf"
)

const (
	afInet  = 2
	afInet6 = 10
)

// Key identifies one direction of a connection in one network namespace.
// ICMP echo keeps its identifier in both ports (Echo says request or
// reply); other ICMP messages keep type in Sport and code in Dport.
// Non-first fragments have ports 0.
type Key struct {
	Proto uint8
	Src   netip.Addr
	Dst   netip.Addr
	Sport uint16
	Dport uint16
	Echo  Echo
	Netns uint32
}

// Echo tells an ICMP echo request from a reply, which have the same
// ports (the identifier).
type Echo uint8

// The kinds of Echo, as BPF stores them (enum icmp_echo).
const (
	NotEcho     = Echo(bpf.DropspotIcmpEchoICMP_NOT_ECHO)
	EchoRequest = Echo(bpf.DropspotIcmpEchoICMP_ECHO_REQUEST)
	EchoReply   = Echo(bpf.DropspotIcmpEchoICMP_ECHO_REPLY)
)

// answer is the other direction's Echo: a request is answered by a reply.
func (e Echo) answer() Echo {
	switch e {
	case EchoRequest:
		return EchoReply
	case EchoReply:
		return EchoRequest
	}
	return e
}

// FromBPF converts the kernel's key.
func FromBPF(k bpf.DropspotFlowKey) Key {
	key := Key{Proto: k.Proto, Sport: k.Sport, Dport: k.Dport, Echo: Echo(k.Echo), Netns: k.Netns}
	if k.Family == afInet {
		key.Src = netip.AddrFrom4([4]byte(k.Saddr[:4]))
		key.Dst = netip.AddrFrom4([4]byte(k.Daddr[:4]))
	} else {
		key.Src = netip.AddrFrom16(k.Saddr)
		key.Dst = netip.AddrFrom16(k.Daddr)
	}
	return key
}

// Reverse is the other direction of the same connection (for ICMP echo,
// the replies to the requests and the other way round).
func (k Key) Reverse() Key {
	return Key{Proto: k.Proto, Src: k.Dst, Dst: k.Src, Sport: k.Dport, Dport: k.Sport, Echo: k.Echo.answer(), Netns: k.Netns}
}

// Conn is the direction-free identity of the connection: both directions
// of a connection have the same Conn.
func (k Key) Conn() Key {
	r := k.Reverse()
	if c := k.Src.Compare(k.Dst); c > 0 || (c == 0 && k.Sport > k.Dport) {
		return r
	}
	return k
}

func (k Key) String() string {
	if name := k.ICMPName(); name != "" {
		return fmt.Sprintf("%s %s %s -> %s netns %d", ProtoName(k.Proto), name, k.Src, k.Dst, k.Netns)
	}
	return fmt.Sprintf("%s %s -> %s netns %d", ProtoName(k.Proto),
		netip.AddrPortFrom(k.Src, k.Sport), netip.AddrPortFrom(k.Dst, k.Dport), k.Netns)
}

var protoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6", 132: "sctp", 136: "udplite",
	47: "gre", 50: "esp", 51: "ah", 89: "ospf", 103: "pim", 112: "vrrp"}

// ProtoName is the usual name of an IP protocol number, or the number.
func ProtoName(p uint8) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return fmt.Sprintf("%d", p)
}

// ParseProto accepts a protocol name or number.
func ParseProto(s string) (uint8, error) {
	for n, name := range protoNames {
		if name == s {
			return n, nil
		}
	}
	var n uint8
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s || n == 0 {
		return 0, fmt.Errorf("unknown protocol %q (want tcp, udp, icmp, icmp6, sctp ... or a number 1-255)", s)
	}
	return n, nil
}

// BPF is the kernel's form of k, FromBPF's inverse.
func (k Key) BPF() bpf.DropspotFlowKey {
	b := bpf.DropspotFlowKey{Proto: k.Proto, Sport: k.Sport, Dport: k.Dport, Echo: uint8(k.Echo), Netns: k.Netns}
	if k.Src.Is4() {
		b.Family = afInet
		src, dst := k.Src.As4(), k.Dst.As4()
		copy(b.Saddr[:], src[:])
		copy(b.Daddr[:], dst[:])
	} else {
		b.Family = afInet6
		b.Saddr, b.Daddr = k.Src.As16(), k.Dst.As16()
	}
	return b
}
