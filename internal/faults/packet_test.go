package faults

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// verifies reports whether a header (or pseudo-header + segment) sums to
// the ones' complement zero, as a receiver checks it.
func verifies(sum uint32, b []byte) bool {
	return checksumFold(checksumAdd(sum, b)) == 0
}

func pseudo(src, dst netip.Addr, proto byte, n int) uint32 {
	sum := checksumAdd(0, src.AsSlice())
	sum = checksumAdd(sum, dst.AsSlice())
	return sum + uint32(proto) + uint32(n)
}

func TestPacketMarshal(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	for _, c := range []struct {
		src, dst netip.Addr
		proto    Proto
		corrupt  Corruption
	}{
		{v4a, v4b, UDP, Intact}, {v4a, v4b, TCP, Intact},
		{v4a, v4b, UDP, BadIPChecksum}, {v4a, v4b, TCP, BadIPChecksum},
		{v4a, v4b, UDP, BadL4Checksum}, {v4a, v4b, TCP, BadL4Checksum},
		{v6a, v6b, UDP, Intact}, {v6a, v6b, TCP, Intact},
		{v6a, v6b, UDP, BadL4Checksum}, {v6a, v6b, TCP, BadL4Checksum},
	} {
		p := Packet{Src: netip.AddrPortFrom(c.src, 1234), Dst: netip.AddrPortFrom(c.dst, 4242), Proto: c.proto, Payload: 33, Corrupt: c.corrupt}
		b, err := p.Marshal()
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		hl, protoNum, ipOK := ipv6HeaderLen, b[6], true
		if c.src.Is4() {
			hl, protoNum = ipv4HeaderLen, b[9]
			ipOK = verifies(0, b[:hl])
			if got := binary.BigEndian.Uint16(b[2:]); int(got) != len(b) {
				t.Errorf("%+v: total length %d, packet %d bytes", p, got, len(b))
			}
		} else if got := binary.BigEndian.Uint16(b[4:]); int(got) != len(b)-hl {
			t.Errorf("%+v: payload length %d, want %d", p, got, len(b)-hl)
		}
		l4 := b[hl:]
		l4OK := verifies(pseudo(c.src, c.dst, protoNum, len(l4)), l4)
		if ipOK != (c.corrupt != BadIPChecksum) || l4OK != (c.corrupt != BadL4Checksum) {
			t.Errorf("%+v: IP checksum ok %v, L4 checksum ok %v", p, ipOK, l4OK)
		}
		if sport, dport := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:]); sport != 1234 || dport != 4242 {
			t.Errorf("%+v: ports %d -> %d", p, sport, dport)
		}
		wantLen := udpHeaderLen + 33
		if c.proto == TCP {
			wantLen = tcpHeaderLen
			if l4[13] != 0x02 {
				t.Errorf("%+v: tcp flags %#x, want SYN", p, l4[13])
			}
		}
		if len(l4) != wantLen {
			t.Errorf("%+v: transport part %d bytes, want %d", p, len(l4), wantLen)
		}
	}
}

func TestPacketMarshalErrors(t *testing.T) {
	v4 := netip.MustParseAddrPort("198.18.0.1:1")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:1")
	for _, p := range []Packet{
		{Src: v4, Dst: v6, Proto: UDP},
		{Src: v6, Dst: v6, Proto: UDP, Corrupt: BadIPChecksum},
		{Src: v4, Dst: v4, Proto: UDP | TCP},
		{Src: v4, Dst: v4, Proto: UDP, Payload: 5000},
		{Src: v4, Dst: v4, Proto: UDP, Corrupt: 9},
		{Dst: v4, Proto: UDP},
	} {
		if _, err := p.Marshal(); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}

// A first fragment says more is to come and carries the transport header;
// IPv6 puts a fragment header in front of it.
func TestPacketMarshalFragment(t *testing.T) {
	v4 := Packet{Src: netip.MustParseAddrPort("198.18.0.1:1234"), Dst: netip.MustParseAddrPort("198.18.0.2:4242"), Proto: UDP, Payload: 64, Fragment: 0x10005}
	b, err := v4.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if id, flags := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]); id != 5 || flags != 0x2000 {
		t.Errorf("IPv4 id %#x flags %#x, want 5 and MF at offset 0", id, flags)
	}
	if !verifies(0, b[:ipv4HeaderLen]) || binary.BigEndian.Uint16(b[ipv4HeaderLen+4:]) != udpHeaderLen+64+fragmentRest {
		t.Errorf("IPv4 first fragment: % x", b[:ipv4HeaderLen+udpHeaderLen])
	}
	v6 := v4
	v6.Src, v6.Dst = netip.MustParseAddrPort("[2001:db8::1]:1234"), netip.MustParseAddrPort("[2001:db8::2]:4242")
	if b, err = v6.Marshal(); err != nil {
		t.Fatal(err)
	}
	frag := b[ipv6HeaderLen:]
	if b[6] != protoFragment || frag[0] != protoUDP || binary.BigEndian.Uint16(frag[2:]) != 1 ||
		binary.BigEndian.Uint32(frag[4:]) != 0x10005 || binary.BigEndian.Uint16(frag[fragHeaderLen+2:]) != 4242 {
		t.Errorf("IPv6 first fragment: % x", b[:ipv6HeaderLen+fragHeaderLen+udpHeaderLen])
	}
	if got := binary.BigEndian.Uint16(b[4:]); int(got) != len(b)-ipv6HeaderLen {
		t.Errorf("IPv6 payload length %d, want %d", got, len(b)-ipv6HeaderLen)
	}
	for _, bad := range []Packet{{Src: v4.Src, Dst: v4.Dst, Proto: TCP, Fragment: 1}, {Src: v4.Src, Dst: v4.Dst, Proto: UDP, Payload: 3, Fragment: 1}} {
		if _, err := bad.Marshal(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// A corrupted checksum must never be one that verifies: not the original,
// and neither of the two spellings of ones' complement zero.
func TestCorrupt(t *testing.T) {
	for c := 0; c <= 0xffff; c++ {
		bad := corrupt(uint16(c))
		if bad == uint16(c) || bad == 0 || bad == 0xffff {
			t.Fatalf("corrupt(%#04x) = %#04x", c, bad)
		}
	}
}

func TestProtoString(t *testing.T) {
	for p, want := range map[Proto]string{UDP: "udp", TCP: "tcp", UDP | TCP: "udp+tcp", 0: "Proto(0x0)", 8: "Proto(0x8)"} {
		if got := p.String(); got != want {
			t.Errorf("%d: %q, want %q", p, got, want)
		}
	}
}
