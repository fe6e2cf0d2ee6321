package filter

import (
	"net/netip"
	"testing"
)

// pkt builds a packet from "proto src:sport dst:dport", family from the
// addresses.
func pkt(proto uint8, src string, sport uint16, dst string, dport uint16) Packet {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	fam := uint8(6)
	if s.Is4() {
		fam = 4
	}
	return Packet{Family: fam, Proto: proto, Src: s, Dst: d, Sport: sport, Dport: dport}
}

const (
	icmp    = 1
	tcp     = 6
	udp     = 17
	icmp6   = 58
	sctp    = 132
	udplite = 136
	gre     = 47
)

// TestMatchSemantics checks tcpdump's meaning on sample packets, through
// Match (the BPF reference) and the parse tree alike.
func TestMatchSemantics(t *testing.T) {
	var (
		web4   = pkt(tcp, "198.18.1.1", 40000, "10.0.0.1", 443)
		dns4   = pkt(udp, "10.0.0.1", 5353, "198.18.0.53", 53)
		ping4  = pkt(icmp, "198.18.0.1", 53, "10.0.0.1", 53) // echo id 53 in both port fields
		web6   = pkt(tcp, "2001:db8::1", 40000, "2001:db8:1::2", 443)
		dns6   = pkt(udp, "2001:db8::1", 5353, "2001:db8::53", 53)
		ping6  = pkt(icmp6, "2001:db8::1", 7, "fe80::1", 7)
		mapped = pkt(tcp, "::ffff:198.18.0.1", 1, "2001:db8::1", 2) // IPv6 packet, v4-mapped source
		self4  = pkt(udp, "10.0.0.1", 1000, "10.0.0.1", 2000)
		sctp4  = pkt(sctp, "10.0.0.1", 3868, "10.0.0.2", 3868)
		lite4  = pkt(udplite, "10.0.0.1", 1, "10.0.0.2", 1500)
		gre4   = pkt(gre, "10.0.0.1", 0, "10.0.0.2", 0)
	)
	for _, tc := range []struct {
		expr string
		pkt  Packet
		want bool
	}{
		{"", gre4, true},
		{"tcp and dst port 443 and net 198.18.0.0/16", web4, true},
		{"tcp and dst port 443 and net 198.18.0.0/16", dns4, false},
		{"tcp and dst port 443 and net 198.18.0.0/16", web6, false},
		{"tcp and src port 443", web4, false},
		{"tcp", web6, true},
		{"ip", web6, false},
		{"ip6", web6, true},
		{"ip6 and not tcp", ping6, true},
		{"icmp or icmp6", ping6, true},
		{"proto 47", gre4, true},
		{"sctp", sctp4, true},
		{"ip proto 17", dns6, false}, // ip qualifies: IPv4 only, as in pcap
		{"proto 17", dns6, true},

		// Ports exist only for TCP, UDP, UDP-Lite and SCTP.
		{"port 53", dns4, true},
		{"port 53", dns6, true},
		{"port 53", ping4, false},
		{"not port 53", ping4, true},
		{"not port 53", dns4, false},
		{"not port 53", web4, true},
		{"src port 53", dns4, false},
		{"dst port 53", dns4, true},
		{"portrange 1-1023", web4, true},
		{"portrange 1400-1600", lite4, true},
		{"port 3868", sctp4, true},
		{"src and dst port 3868", sctp4, true},
		{"src and dst port 53", dns4, false},
		{"port 0", gre4, false},
		{"udp port 53", dns4, true},
		{"tcp port 53", dns4, false},

		// Addresses match only their own family.
		{"host 198.18.0.1", ping4, true},
		{"host 198.18.0.1", mapped, false},
		{"not host 198.18.0.1", mapped, true},
		{"not host 198.18.0.1", web6, true},
		{"not host 198.18.0.1", ping4, false},
		{"host ::ffff:198.18.0.1", mapped, true},
		{"host ::ffff:198.18.0.1", ping4, false},
		{"src host 198.18.0.1", ping4, true},
		{"dst host 198.18.0.1", ping4, false},
		{"src or dst host 10.0.0.1", ping4, true},
		{"src and dst host 10.0.0.1", self4, true},
		{"src and dst host 10.0.0.1", dns4, false},
		{"net 198.18.0.0/15", dns4, true},
		{"net 198.18.0.0/15", dns6, false},
		{"net 198.16.0.0/15", dns4, false},
		{"net 2001:db8::/32", web6, true},
		{"dst net 2001:db8:1::/48", web6, true},
		{"src net 2001:db8:1::/48", web6, false},
		{"net 10.0.0.0 mask 255.255.0.0", dns4, true},
		{"net 0.0.0.0/0", web6, false},
		{"net ::/0", web6, true},
		{"198.18.1.1 or 198.18.0.53", dns4, true},

		// pcap precedence: and/or equal, from the left.
		{"tcp or udp and port 53", web4, false},
		{"tcp or (udp and port 53)", web4, true},
		{"not tcp and udp", dns4, true},
		{"host 10.0.0.1 and not 198.18.0.53", dns4, false},
		{"tcp dst port 80 or 443", web4, true},
		{"tcp dst port 80 or 443", dns4, false},
	} {
		prog, err := Compile(tc.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.expr, err)
			continue
		}
		if got := prog.Match(tc.pkt); got != tc.want {
			t.Errorf("Compile(%q) = %q: Match(%+v) = %v, want %v", tc.expr, prog, tc.pkt, got, tc.want)
		}
		tree, _ := parse(tc.expr)
		if got := evalAST(tree, tc.pkt); got != tc.want {
			t.Errorf("evalAST(%q, %+v) = %v, want %v", tc.expr, tc.pkt, got, tc.want)
		}
	}
}

// TestMatchFourInSix: a caller may hold IPv4 addresses as ::ffff:a.b.c.d;
// for an IPv4 packet the kernel compares the four address bytes.
func TestMatchFourInSix(t *testing.T) {
	prog, err := Compile("src host 198.18.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p := Packet{Family: 4, Proto: udp, Src: netip.MustParseAddr("::ffff:198.18.0.1"), Dst: netip.MustParseAddr("10.0.0.1")}
	if !prog.Match(p) {
		t.Errorf("%q does not match %+v", prog, p)
	}
}

// TestMatchOddPredicates: the BPF side tests Dir as a bit set, so a Dir of
// zero (never compiled) matches no end; and it tests the family before
// comparing address words.
func TestMatchOddPredicates(t *testing.T) {
	p := pkt(tcp, "10.0.0.1", 1, "10.0.0.2", 2)
	for _, tc := range []struct {
		pred Pred
		want bool
	}{
		{Pred{Kind: Port, Dir: Src, PortLo: 1, PortHi: 1}, true},
		{Pred{Kind: Port, Dir: Dst, PortLo: 1, PortHi: 1}, false},
		{Pred{Kind: Port, Dir: Either, PortLo: 2, PortHi: 2}, true},
		{Pred{Kind: Port, Dir: 0, PortLo: 0, PortHi: 65535}, false},
		{Pred{Kind: Net, Dir: 0, Prefix: netip.MustParsePrefix("0.0.0.0/0")}, false},
		{Pred{}, false}, // zero Kind
	} {
		if got := (Program{{tc.pred}}).Match(p); got != tc.want {
			t.Errorf("%+v: Match = %v, want %v", tc.pred, got, tc.want)
		}
	}
}

// TestMatchFamilyFirst: the kernel compares raw address words, so only the
// family test keeps an IPv4 prefix off an IPv6 address whose first word
// happens to equal it. Match must refuse such a packet the same way.
func TestMatchFamilyFirst(t *testing.T) {
	prog, err := Compile("host 198.18.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p := Packet{Family: 6, Proto: udp, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.1")}
	if prog.Match(p) {
		t.Errorf("%q matches an IPv6 packet: %+v", prog, p)
	}
}

// A frame that parsed into no flow has none of the fields predicates test:
// only what holds by negation passes it.
func TestMatchUnparsed(t *testing.T) {
	for expr, want := range map[string]bool{
		"":                           true,
		"udp":                        false,
		"ip or ip6":                  false,
		"host 198.18.0.1":            false,
		"not tcp":                    true,
		"not host 198.18.0.1":        true,
		"udp and port 53":            false,
		"udp or not port 53":         true,
		"not udp and not ip6":        true,
		"not udp and net 10.0.0.0/8": false,
		"proto 0":                    false,
	} {
		prog, err := Compile(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		if got := prog.MatchUnparsed(); got != want {
			t.Errorf("%q passes a frame that is not IP: %v, want %v", expr, got, want)
		}
	}
}
