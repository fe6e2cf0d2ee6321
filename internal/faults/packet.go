package faults

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Corruption is what is wrong with a Packet on purpose.
type Corruption uint8

const (
	Intact        Corruption = iota
	BadIPChecksum            // IPv4 header checksum (IPv6 has none)
	BadL4Checksum            // UDP or TCP checksum
)

func (c Corruption) String() string {
	switch c {
	case Intact:
		return "intact"
	case BadIPChecksum:
		return "bad IP checksum"
	case BadL4Checksum:
		return "bad L4 checksum"
	}
	return fmt.Sprintf("Corruption(%d)", uint8(c))
}

// Packet is one IPv4 or IPv6 packet built by hand, for what sockets cannot
// send: wrong checksums (a raw IPv4 socket even rewrites the header
// checksum), or a source address the sender does not own.
type Packet struct {
	Src, Dst netip.AddrPort // same family
	Proto    Proto          // UDP, or TCP (a bare SYN)
	TTL      uint8          // TTL / hop limit; 0 = 64
	Payload  int            // UDP payload bytes (zeros); TCP carries none
	Corrupt  Corruption
	// Fragment, if not 0, makes the packet the first fragment (offset 0,
	// more to come) of a UDP datagram with this identification (IPv4:
	// its low 16 bits) whose other fragments are never sent: the
	// receiver holds it for reassembly until its reassembly timeout.
	// Fragments other than the last carry a multiple of 8 bytes, so
	// 8 + Payload must be one.
	Fragment uint32
}

const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	udpHeaderLen  = 8
	tcpHeaderLen  = 20
	protoTCP      = 6
	protoUDP      = 17
	fragHeaderLen = 8 // IPv6 fragment extension header
	protoFragment = 44
	// maxPacket keeps a built packet within one frame of a 1500-byte link.
	maxPacket = 1500
	// fragmentRest is how many bytes a first fragment's datagram claims
	// beyond what it carries: the fragments that never come.
	fragmentRest = 1000
)

// Marshal returns the packet's bytes from the IP header on.
func (p Packet) Marshal() ([]byte, error) {
	src, dst := p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("faults: packet %s -> %s: want two addresses of one family", p.Src, p.Dst)
	}
	if p.Corrupt == BadIPChecksum && !src.Is4() {
		return nil, errors.New("faults: IPv6 has no header checksum to corrupt")
	}
	if p.Corrupt > BadL4Checksum {
		return nil, fmt.Errorf("faults: unknown corruption %v", p.Corrupt)
	}
	if p.Fragment != 0 && (p.Proto != UDP || (udpHeaderLen+p.Payload)%8 != 0) {
		return nil, fmt.Errorf("faults: a first fragment needs udp with 8 + payload a multiple of 8, not %v with %d", p.Proto, p.Payload)
	}
	var l4 []byte
	var proto byte
	switch p.Proto {
	case UDP:
		if p.Payload < 0 || p.Payload > maxPacket-ipv6HeaderLen-udpHeaderLen {
			return nil, fmt.Errorf("faults: udp payload %d not in [0, %d]", p.Payload, maxPacket-ipv6HeaderLen-udpHeaderLen)
		}
		proto = protoUDP
		l4 = make([]byte, udpHeaderLen+p.Payload)
		binary.BigEndian.PutUint16(l4[0:], p.Src.Port())
		binary.BigEndian.PutUint16(l4[2:], p.Dst.Port())
		udpLen := len(l4)
		if p.Fragment != 0 {
			udpLen += fragmentRest // the whole datagram's
		}
		binary.BigEndian.PutUint16(l4[4:], uint16(udpLen))
	case TCP:
		proto = protoTCP
		l4 = make([]byte, tcpHeaderLen)
		binary.BigEndian.PutUint16(l4[0:], p.Src.Port())
		binary.BigEndian.PutUint16(l4[2:], p.Dst.Port())
		binary.BigEndian.PutUint32(l4[4:], 0x64726f70) // sequence number: "drop"
		l4[12] = tcpHeaderLen / 4 << 4                 // data offset
		l4[13] = 0x02                                  // SYN
		binary.BigEndian.PutUint16(l4[14:], 64240)     // window
	default:
		return nil, fmt.Errorf("faults: packet protocol %v: want udp or tcp", p.Proto)
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = 64
	}

	// Transport checksum over the pseudo-header; UDP sends 0 as 0xffff
	// (0 means "none" over IPv4).
	sum := checksumAdd(0, src.AsSlice())
	sum = checksumAdd(sum, dst.AsSlice())
	sum += uint32(proto) + uint32(len(l4))
	csumAt := 6
	if proto == protoTCP {
		csumAt = 16
	}
	c := checksumFold(checksumAdd(sum, l4))
	if c == 0 && proto == protoUDP {
		c = 0xffff
	}
	if p.Corrupt == BadL4Checksum {
		c = corrupt(c)
	}
	binary.BigEndian.PutUint16(l4[csumAt:], c)

	if !src.Is4() {
		return append(p.ipv6Header(src, dst, proto, ttl, len(l4)), l4...), nil
	}
	return append(p.ipv4Header(src, dst, proto, ttl, len(l4)), l4...), nil
}

// ipv6Header is the fixed header, and the fragment header of a Fragment.
func (p Packet) ipv6Header(src, dst netip.Addr, proto, ttl byte, l4len int) []byte {
	ip := make([]byte, ipv6HeaderLen, ipv6HeaderLen+fragHeaderLen+l4len)
	ip[0] = 6 << 4
	ip[6] = proto
	ip[7] = ttl
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	if p.Fragment != 0 {
		ip[6] = protoFragment
		// Next header, reserved, offset 0 with M (more fragments), id.
		ip = append(ip, proto, 0, 0, 1, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(ip[ipv6HeaderLen+4:], p.Fragment)
	}
	binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-ipv6HeaderLen+l4len))
	return ip
}

// ipv4Header is the header, with DF set unless the packet is a Fragment
// (no fragments to reason about otherwise).
func (p Packet) ipv4Header(src, dst netip.Addr, proto, ttl byte, l4len int) []byte {
	ip := make([]byte, ipv4HeaderLen, ipv4HeaderLen+l4len)
	ip[0] = 4<<4 | ipv4HeaderLen/4
	binary.BigEndian.PutUint16(ip[2:], uint16(ipv4HeaderLen+l4len))
	flags := uint16(0x4000) // DF
	if p.Fragment != 0 {
		binary.BigEndian.PutUint16(ip[4:], uint16(p.Fragment))
		flags = 0x2000 // MF, offset 0
	}
	binary.BigEndian.PutUint16(ip[6:], flags)
	ip[8] = ttl
	ip[9] = proto
	s, d := src.As4(), dst.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	h := checksumFold(checksumAdd(0, ip))
	if p.Corrupt == BadIPChecksum {
		h = corrupt(h)
	}
	binary.BigEndian.PutUint16(ip[10:], h)
	return ip
}

// checksumAdd adds b to a running ones' complement sum (RFC 1071).
func checksumAdd(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

// checksumFold folds the sum to 16 bits and complements it: the value
// that goes into the header.
func checksumFold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// corrupt returns a checksum that cannot verify in place of c. In ones'
// complement 0 and 0xffff are the same number (and 0 is "no checksum" in
// IPv4 UDP), so neither may be the result.
func corrupt(c uint16) uint16 {
	bad := c ^ 0x0101
	if bad == 0 || bad == 0xffff {
		bad = c ^ 0x1010
	}
	return bad
}
