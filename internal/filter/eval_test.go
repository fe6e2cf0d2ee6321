package filter

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// evalAST evaluates the parse tree directly, with tcpdump's meaning of each
// primitive written out again here rather than taken from match.go. The
// property and fuzz tests compare it with Program.Match: any difference is
// a bug in the De Morgan/DNF expansion, the simplifier or Match.
func evalAST(n node, pkt Packet) bool {
	switch n := n.(type) {
	case nil:
		return true
	case leafNode:
		return evalPrimitive(n.p, pkt)
	case notNode:
		return !evalAST(n.x, pkt)
	case andNode:
		return evalAST(n.l, pkt) && evalAST(n.r, pkt)
	case orNode:
		return evalAST(n.l, pkt) || evalAST(n.r, pkt)
	}
	panic("evalAST: unknown node")
}

func evalPrimitive(p Pred, pkt Packet) bool {
	v := false
	switch p.Kind {
	case Proto:
		v = pkt.Proto == p.Proto
	case Family:
		v = pkt.Family == p.Family
	case Net:
		// tcpdump: "host 198.18.0.1" is "ip and (ip src ... or ip dst ...)";
		// an IPv6 packet never has an IPv4 source.
		want := uint8(6)
		if p.Prefix.Addr().Is4() {
			want = 4
		}
		if pkt.Family != want {
			break
		}
		v = (p.Dir == Src || p.Dir == Either) && inPrefix(pkt, pkt.Src, p.Prefix) ||
			(p.Dir == Dst || p.Dir == Either) && inPrefix(pkt, pkt.Dst, p.Prefix)
	case Port:
		// tcpdump: "port 53" is "(tcp or udp or sctp) and ..."; UDP-Lite
		// has the same header start, and the BPF side counts it in.
		switch pkt.Proto {
		case 6, 17, 132, 136:
		default:
			return p.Negate
		}
		in := func(port uint16) bool { return p.PortLo <= port && port <= p.PortHi }
		v = (p.Dir == Src || p.Dir == Either) && in(pkt.Sport) ||
			(p.Dir == Dst || p.Dir == Either) && in(pkt.Dport)
	}
	return v != p.Negate
}

// inPrefix compares the leading bits byte by byte, the way the kernel
// does, instead of netip.Prefix.Contains.
func inPrefix(pkt Packet, a netip.Addr, pfx netip.Prefix) bool {
	if pkt.Family == 4 {
		a = a.Unmap()
	}
	if !a.IsValid() || a.BitLen() != pfx.Addr().BitLen() {
		return false
	}
	x, y := a.AsSlice(), pfx.Addr().AsSlice()
	for bit := range pfx.Bits() {
		mask := byte(0x80) >> (bit % 8)
		if x[bit/8]&mask != y[bit/8]&mask {
			return false
		}
	}
	return true
}

// packetsFor makes count packets that exercise tree: addresses at and
// just around the edges of its prefixes, ports at and around its ranges,
// its protocols, mixed with a few fixed values.
func packetsFor(tree node, rng *rand.Rand, count int) []Packet {
	v4 := []netip.Addr{mustAddr("10.0.0.1"), mustAddr("10.0.0.2"), mustAddr("192.0.2.1")}
	v6 := []netip.Addr{mustAddr("2001:db8::1"), mustAddr("2001:db8::2"), mustAddr("::1")}
	ports := []uint16{0, 53, 80, 443, 65535}
	protos := []uint8{1, 6, 17, 58, 132, 136, 47}
	addAddr := func(a netip.Addr) {
		if !a.IsValid() {
			return
		}
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	var walk func(node)
	walk = func(n node) {
		switch n := n.(type) {
		case leafNode:
			switch p := n.p; p.Kind {
			case Net:
				first, last := p.Prefix.Masked().Addr(), lastAddr(p.Prefix)
				for _, a := range []netip.Addr{first, last, first.Prev(), last.Next()} {
					addAddr(a)
				}
			case Port:
				ports = append(ports, p.PortLo, p.PortHi, p.PortLo-1, p.PortHi+1) // wrapping is fine
			case Proto:
				protos = append(protos, p.Proto)
			}
		case notNode:
			walk(n.x)
		case andNode:
			walk(n.l)
			walk(n.r)
		case orNode:
			walk(n.l)
			walk(n.r)
		}
	}
	walk(tree)
	pick := func(as []netip.Addr) netip.Addr { return as[rng.IntN(len(as))] }
	pkts := make([]Packet, count)
	for i := range pkts {
		pkt := Packet{Family: 4, Proto: protos[rng.IntN(len(protos))],
			Sport: ports[rng.IntN(len(ports))], Dport: ports[rng.IntN(len(ports))]}
		if rng.IntN(2) == 0 {
			pkt.Family, pkt.Src, pkt.Dst = 6, pick(v6), pick(v6)
		} else {
			pkt.Src, pkt.Dst = pick(v4), pick(v4)
		}
		if rng.IntN(8) == 0 {
			pkt.Dst = pkt.Src // "src and dst host X"
		}
		pkts[i] = pkt
	}
	return pkts
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for bit := p.Bits(); bit < len(b)*8; bit++ {
		b[bit/8] |= 0x80 >> (bit % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// checkCompiled checks Compile's result for expr against its parse tree on
// pkts: the program must fit the table, agree with the tree on every
// packet, and read back from its String unchanged. A "matches no packet"
// error must be true of pkts too.
func checkCompiled(t testing.TB, expr string, tree node, prog Program, err error, pkts []Packet) {
	t.Helper()
	if err != nil {
		var fe *Error
		if !errors.As(err, &fe) || fe.Col != 0 {
			t.Fatalf("Compile(%q): parse succeeded but compile failed with %v", expr, err)
		}
		if strings.Contains(fe.Msg, "matches no packet") {
			for _, pkt := range pkts {
				if evalAST(tree, pkt) {
					t.Fatalf("Compile(%q) says it matches nothing, but the tree matches %+v", expr, pkt)
				}
			}
		} else if !strings.HasPrefix(fe.Msg, "too complex") {
			t.Fatalf("Compile(%q): unexpected %v", expr, err)
		}
		return
	}
	if msg := checkShape(prog); msg != "" {
		t.Fatalf("Compile(%q) = %v: %s", expr, prog, msg)
	}
	for _, pkt := range pkts {
		if want, got := evalAST(tree, pkt), prog.Match(pkt); want != got {
			t.Fatalf("Compile(%q) = %q: Match(%+v) = %v, the tree says %v", expr, prog, pkt, got, want)
		}
	}
	again, err := Compile(prog.String())
	if err != nil || !reflect.DeepEqual(again, prog) {
		t.Fatalf("Compile(%q) = %q, which compiles to %q, %v", expr, prog, again, err)
	}
}

// checkShape says what is wrong with a program the BPF side would load.
func checkShape(prog Program) string {
	if len(prog) > MaxRules {
		return "too many rules"
	}
	for _, r := range prog {
		if len(r) == 0 || len(r) > MaxPreds {
			return "rule with a bad length"
		}
		for _, p := range r {
			dirOK := p.Dir == 0
			if p.Kind == Net || p.Kind == Port {
				dirOK = p.Dir == Src || p.Dir == Dst || p.Dir == Either
			}
			switch {
			case !dirOK:
				return "bad Dir in " + p.String()
			case p.Kind == Family && p.Family != 4 && p.Family != 6:
				return "bad family"
			case p.Kind == Net && (!p.Prefix.IsValid() || p.Prefix != p.Prefix.Masked() || p.Prefix.Addr().Zone() != ""):
				return "bad prefix in " + p.String()
			case p.Kind == Port && p.PortLo > p.PortHi:
				return "bad port range"
			case p.Kind < Proto || p.Kind > Port:
				return "bad kind"
			}
		}
	}
	return ""
}
