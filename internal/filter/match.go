package filter

import (
	"net/netip"
	"slices"
)

// Packet is what the BPF side knows of a packet when it applies the
// filter: the fields of the flow key.
type Packet struct {
	Family       uint8 // 4 or 6
	Proto        uint8 // IP protocol number (after IPv6 extension headers)
	Src, Dst     netip.Addr
	Sport, Dport uint16 // whatever the flow parser stored; only read for port protocols
}

// Match reports whether the program passes pkt. It is the reference for
// filter_match in bpf/lib/filter.h and must stay exactly equivalent to it:
// tests use it as the oracle for what the kernel side counts.
func (p Program) Match(pkt Packet) bool {
	if len(p) == 0 {
		return true
	}
	for _, r := range p {
		if r.match(pkt) {
			return true
		}
	}
	return false
}

// MatchUnparsed reports whether the program passes a frame that parsed
// into no flow (not IP, or a malformed IP header): it has none of the
// fields predicates test, so each is false and its negation true ("not
// tcp" passes it, "udp" or "host X" does not). An empty program passes
// it, as it passes everything. The BPF side reads the answer from its
// configuration (match_unparsed).
func (p Program) MatchUnparsed() bool {
	if len(p) == 0 {
		return true
	}
	for _, r := range p {
		if !slices.ContainsFunc(r, func(pred Pred) bool { return !pred.Negate }) {
			return true
		}
	}
	return false
}

func (r Rule) match(pkt Packet) bool {
	for _, p := range r {
		if !p.match(pkt) {
			return false
		}
	}
	return true
}

// match is pred_matches in bpf/lib/filter.h.
func (p Pred) match(pkt Packet) bool {
	r := false
	switch p.Kind {
	case Proto:
		r = pkt.Proto == p.Proto
	case Family:
		r = pkt.Family == p.Family
	case Net:
		// The family test comes first, as in BPF: the kernel compares
		// raw address words, so an IPv4 prefix must not be laid over
		// the first word of an IPv6 address.
		r = pkt.Family == netFamily(p.Prefix) &&
			(p.Dir&Src != 0 && p.Prefix.Contains(unmap4(pkt, pkt.Src)) ||
				p.Dir&Dst != 0 && p.Prefix.Contains(unmap4(pkt, pkt.Dst)))
	case Port:
		// Port fields of other protocols hold ICMP type/code or nothing;
		// tcpdump's port primitives never look at them either.
		r = isPortProto(pkt.Proto) &&
			(p.Dir&Src != 0 && p.PortLo <= pkt.Sport && pkt.Sport <= p.PortHi ||
				p.Dir&Dst != 0 && p.PortLo <= pkt.Dport && pkt.Dport <= p.PortHi)
	}
	return r != p.Negate
}

// unmap4 reads an IPv4 packet's address as 4 bytes even if a caller built
// it as ::ffff:a.b.c.d, as the kernel's first address word would be.
func unmap4(pkt Packet, a netip.Addr) netip.Addr {
	if pkt.Family == 4 {
		return a.Unmap()
	}
	return a
}

// isPortProto is is_port_proto in bpf/lib/filter.h: TCP, UDP, UDP-Lite and
// SCTP, the protocols whose first four bytes are source and destination
// port.
func isPortProto(proto uint8) bool {
	return proto == 6 || proto == 17 || proto == 136 || proto == 132
}
