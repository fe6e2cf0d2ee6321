package tracer

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/filter"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/testnet"
)

const (
	askedPort      = 9020 // the port clients send to
	translatedPort = 9021 // where a local translation sends them
)

var loopback = append(sent[:len(sent):len(sent)], append(received, stage.SockRcv)...)

// inNetns is k in namespace netns.
func inNetns(k flow.Key, netns uint32) flow.Key {
	k.Netns = netns
	return k
}

// udpKey is the UDP flow key from..to.
func udpKey(from, to netip.AddrPort) flow.Key {
	return flow.Key{Proto: 17, Src: from.Addr(), Sport: from.Port(), Dst: to.Addr(), Dport: to.Port()}
}

// ipFamily is the nft family word of addr.
func ipFamily(a netip.Addr) string {
	if a.Is4() {
		return "ip"
	}
	return "ip6"
}

// DNAT to a local port on the same host: in the output hook over
// loopback, and in the prerouting hook by dnat and by redirect. Every
// stage of both directions counts under the port the client asked for,
// nothing under the translated port.
func TestNATLocal(t *testing.T) {
	chains, tr := natSetup(t, 1)
	c := chains[0]
	const n = 29
	for _, v6 := range []bool{false, true} {
		lo, b, a := netip.MustParseAddr("127.0.0.1"), c.B4, c.A4
		if v6 {
			lo, b, a = netip.IPv6Loopback(), c.B6, c.A6
		}
		fam := ipFamily(lo)
		t.Run(fmt.Sprintf("output/v6=%v", v6), func(t *testing.T) {
			table := fmt.Sprintf("dsout%v", v6)
			if err := testnet.Nft(c.NameB, fmt.Sprintf(`table inet %s {
	chain out { type nat hook output priority -100; %s daddr %s udp dport %d dnat %s to %s; }
}
`, table, fam, lo, askedPort, fam, netip.AddrPortFrom(lo, translatedPort))); err != nil {
				t.Fatal(err)
			}
			defer testnet.Nft(c.NameB, "delete table inet "+table)
			asked := netip.AddrPortFrom(lo, askedPort)
			u := openUDP(t, c, testnet.NodeB, lo, asked, testnet.NodeB, netip.AddrPortFrom(lo, translatedPort))
			u.echo(t, n)
			conn := inNetns(udpKey(netip.AddrPortFrom(lo, u.sport()), asked), c.InodeB)
			snap := settled(t, tr, func(s *flow.Snapshot) bool {
				f := s.Flows[conn.Reverse()]
				return f != nil && f.Packets[stage.SockRcv] == n
			})
			expect(t, tr, snap, conn, n, loopback)
			expect(t, tr, snap, conn.Reverse(), n, loopback)
			expectNAT(t, snap, conn, "dnat", inNetns(udpKey(netip.AddrPortFrom(lo, u.sport()), netip.AddrPortFrom(lo, translatedPort)), c.InodeB))
			expectNoPort(t, snap, c.InodeB, translatedPort)
			expectNoSplit(t, snap)
		})
		for _, how := range []string{"dnat", "redirect"} {
			t.Run(fmt.Sprintf("prerouting-%s/v6=%v", how, v6), func(t *testing.T) {
				table := fmt.Sprintf("dspre%s%v", how, v6)
				action := fmt.Sprintf("dnat %s to %s", fam, netip.AddrPortFrom(b, translatedPort))
				if how == "redirect" {
					action = fmt.Sprintf("redirect to :%d", translatedPort)
				}
				if err := testnet.Nft(c.NameB, fmt.Sprintf(`table inet %s {
	chain pre { type nat hook prerouting priority dstnat; %s daddr %s meta l4proto { tcp, udp } th dport %d %s; }
}
`, table, fam, b, askedPort, action)); err != nil {
					t.Fatal(err)
				}
				defer testnet.Nft(c.NameB, "delete table inet "+table)
				asked := netip.AddrPortFrom(b, askedPort)
				u := openUDP(t, c, testnet.NodeA, a, asked, testnet.NodeB, netip.AddrPortFrom(b, translatedPort))
				u.echo(t, n)
				conn := udpKey(netip.AddrPortFrom(a, u.sport()), asked)
				snap := settled(t, tr, func(s *flow.Snapshot) bool {
					f := s.Flows[inNetns(conn, c.InodeA).Reverse()]
					return f != nil && f.Packets[stage.SockRcv] == n
				})
				expect(t, tr, snap, inNetns(conn, c.InodeB), n, received, []stage.Stage{stage.SockRcv})
				expect(t, tr, snap, inNetns(conn, c.InodeB).Reverse(), n, sent)
				expect(t, tr, snap, inNetns(conn, c.InodeR), n, forwarded)
				expect(t, tr, snap, inNetns(conn, c.InodeR).Reverse(), n, forwarded)
				expectNAT(t, snap, inNetns(conn, c.InodeB), "dnat",
					inNetns(udpKey(netip.AddrPortFrom(a, u.sport()), netip.AddrPortFrom(b, translatedPort)), c.InodeB))

				// TCP: ground truth the client's and server's OutSegs.
				a0, b0 := tcpOutSegs(t, c, testnet.NodeA), tcpOutSegs(t, c, testnet.NodeB)
				tcp := conn
				tcp.Proto, tcp.Sport = 6, service{c: c, src: a, dst: b}.tcpSend(t, asked, translatedPort, 100000)
				var outA, outB uint64
				snap = settled(t, tr, func(s *flow.Snapshot) bool {
					outA, outB = tcpOutSegs(t, c, testnet.NodeA)-a0, tcpOutSegs(t, c, testnet.NodeB)-b0
					x, y := s.Flows[inNetns(tcp, c.InodeB)], s.Flows[inNetns(tcp, c.InodeA).Reverse()]
					return x != nil && y != nil && x.Packets[stage.SockRcv] == outA && y.Packets[stage.L4Rcv] == outB
				})
				expect(t, tr, snap, inNetns(tcp, c.InodeB), outA, received, []stage.Stage{stage.SockRcv})
				expect(t, tr, snap, inNetns(tcp, c.InodeB).Reverse(), outB, sent)
				expectNoPort(t, snap, c.InodeB, translatedPort)
				expectNoSplit(t, snap)
			})
		}
	}
}

// expectNoPort asserts that no flow of namespace netns has port at
// either end.
func expectNoPort(t *testing.T, snap *flow.Snapshot, netns uint32, port uint16) {
	t.Helper()
	for k, c := range snap.Flows {
		if k.Netns == netns && (k.Sport == port || k.Dport == port) {
			t.Errorf("%v: a second record of the translated connection: %v", k, c.Packets)
		}
	}
}

// SNAT and MASQUERADE on the router's way out to B: in R both
// directions count under the client's own addresses, the replies are
// un-NATed; B sees the router's address, its own view.
func TestNATSourceNAT(t *testing.T) {
	chains, tr := natSetup(t, 4)
	const n = 27
	i := 0
	for _, how := range []string{"snat", "masquerade"} {
		for _, v6 := range []bool{false, true} {
			c := chains[i]
			i++
			t.Run(fmt.Sprintf("%s/v6=%v", how, v6), func(t *testing.T) {
				a, b, rb := c.A4, c.B4, c.RB4
				if v6 {
					a, b, rb = c.A6, c.B6, c.RB6
				}
				fam := ipFamily(a)
				action := "masquerade"
				if how == "snat" {
					action = fmt.Sprintf("snat %s to %s", fam, rb)
				}
				if err := testnet.Nft(c.NameR, fmt.Sprintf(`table inet dssnat {
	chain post { type nat hook postrouting priority srcnat; oifname %q %s saddr %s %s; }
}
`, c.IfRB, fam, a, action)); err != nil {
					t.Fatal(err)
				}
				to := netip.AddrPortFrom(b, backendPort)
				u := openUDP(t, c, testnet.NodeA, a, to, testnet.NodeB, to)
				u.echo(t, n)
				conn := udpKey(netip.AddrPortFrom(a, u.sport()), to)
				snap := settled(t, tr, func(s *flow.Snapshot) bool {
					f := s.Flows[inNetns(conn, c.InodeA).Reverse()]
					return f != nil && f.Packets[stage.SockRcv] == n
				})
				expectSourceNATed(t, tr, snap, c, conn, rb, n, n)

				// TCP: ground truth the client's and server's OutSegs.
				a0, b0 := tcpOutSegs(t, c, testnet.NodeA), tcpOutSegs(t, c, testnet.NodeB)
				s := service{c: c, src: a, dst: b}
				tcp := conn
				tcp.Proto, tcp.Sport = 6, s.tcpSend(t, to, backendPort, 100000)
				var outA, outB uint64
				snap = settled(t, tr, func(s *flow.Snapshot) bool {
					outA, outB = tcpOutSegs(t, c, testnet.NodeA)-a0, tcpOutSegs(t, c, testnet.NodeB)-b0
					x, y := s.Flows[inNetns(tcp, c.InodeR)], s.Flows[inNetns(tcp, c.InodeA).Reverse()]
					return x != nil && y != nil && x.Packets[stage.TxDone] == outA && y.Packets[stage.L4Rcv] == outB
				})
				expectSourceNATed(t, tr, snap, c, tcp, rb, outA, outB)
			})
		}
	}
}

// expectSourceNATed asserts that R translated conn's source to rb: in R
// both directions count under the client's addresses, out packets one
// way and back the other; B counts them under the translated ones.
func expectSourceNATed(t *testing.T, tr *Tracer, snap *flow.Snapshot, c *testnet.Chain, conn flow.Key, rb netip.Addr,
	out, back uint64) {
	t.Helper()
	expect(t, tr, snap, inNetns(conn, c.InodeR), out, forwarded)
	expect(t, tr, snap, inNetns(conn, c.InodeR).Reverse(), back, forwarded)
	nat, ok := snap.NAT[inNetns(conn, c.InodeR)]
	if !ok || nat.Kind() != "snat" || nat.Tuple.Src != rb || nat.Tuple.Dst != conn.Dst || nat.Tuple.Dport != conn.Dport {
		t.Fatalf("%v: translation %+v (%v), want snat from %v", conn, nat, ok, rb)
	}
	seen := inNetns(nat.Tuple, c.InodeB)
	expect(t, tr, snap, seen, out, received, []stage.Stage{stage.SockRcv})
	expect(t, tr, snap, seen.Reverse(), back, sent)
	expectNoFlowWith(t, snap, c.InodeR, rb)
	expectNoSplit(t, snap)
}

// Drops after a translation, in the namespace that translates: to a
// local port nobody listens on (NO_SOCKET) and by a FORWARD rule against
// the backend (NETFILTER_DROP). Both are the client's connection's, with
// the translation on its record and no loss left unexplained. Ground
// truth: the datagrams sent, Udp(6).NoPorts, the nft rule's counter.
func TestNATDrops(t *testing.T) {
	chains, tr := natSetup(t, 2)
	const n = 23
	for i, v6 := range []bool{false, true} {
		c := chains[i]
		a, b := c.A4, c.B4
		noPorts := "Udp.NoPorts"
		if v6 {
			a, b, noPorts = c.A6, c.B6, "Udp6.NoPorts"
		}
		fam := ipFamily(a)
		t.Run(fmt.Sprintf("no-socket/v6=%v", v6), func(t *testing.T) {
			if err := testnet.Nft(c.NameB, fmt.Sprintf(`table inet dsnosock {
	chain pre { type nat hook prerouting priority dstnat; %s daddr %s udp dport %d dnat %s to %s; }
}
`, fam, b, askedPort, fam, netip.AddrPortFrom(b, translatedPort))); err != nil {
				t.Fatal(err)
			}
			before := chainNstat(t, c, testnet.NodeB)
			asked := netip.AddrPortFrom(b, askedPort)
			u := openUDP(t, c, testnet.NodeA, a, asked, testnet.NodeB, netip.AddrPortFrom(netip.Addr{}, 0))
			u.send(t, n)
			conn := inNetns(udpKey(netip.AddrPortFrom(a, u.sport()), asked), c.InodeB)
			expectDrops(t, tr, conn, n, "NO_SOCKET", "l4.rcv")
			after := chainNstat(t, c, testnet.NodeB)
			if got := after[noPorts] - before[noPorts]; got != n {
				t.Fatalf("ground truth: %s grew by %d, want %d", noPorts, got, n)
			}
			snap := snapshot(t, tr)
			expect(t, tr, snap, conn, n, received)
			expectNoPort(t, snap, c.InodeB, translatedPort)
			expectExplained(t, tr, snap, conn, "dnat")
		})
		t.Run(fmt.Sprintf("forward-rule/v6=%v", v6), func(t *testing.T) {
			s := newService(c, v6)
			s.nftDNAT(t)
			if err := testnet.Nft(c.NameR, fmt.Sprintf(`table inet dsfwd {
	chain deny { type filter hook forward priority filter; %s daddr %s udp dport %d counter drop; }
}
`, fam, b, backendPort)); err != nil {
				t.Fatal(err)
			}
			to := netip.AddrPortFrom(s.vip, servicePort)
			u := openUDP(t, c, testnet.NodeA, a, to, testnet.NodeB, netip.AddrPortFrom(netip.Addr{}, 0))
			u.send(t, n)
			conn := inNetns(udpKey(netip.AddrPortFrom(a, u.sport()), to), c.InodeR)
			expectDrops(t, tr, conn, n, "NETFILTER_DROP", "ip.forward")
			denied, err := testnet.NftCounter(c.NameR, "inet", "dsfwd", "deny")
			if err != nil {
				t.Fatal(err)
			}
			if denied != n {
				t.Fatalf("ground truth: the rule dropped %d, want %d", denied, n)
			}
			snap := snapshot(t, tr)
			expect(t, tr, snap, conn, n, []stage.Stage{stage.RxDriver, stage.RxCore, stage.IPRcv, stage.IPForward})
			expectNoPort(t, snap, c.InodeR, backendPort)
			expectExplained(t, tr, snap, conn, "dnat")
		})
	}
}

// expectExplained asserts that the report shows k with its translation
// and every loss explained by a drop.
func expectExplained(t *testing.T, tr *Tracer, snap *flow.Snapshot, k flow.Key, kind string) {
	t.Helper()
	r := report.Build(snap, tr.Plan.Hooks, namer(t))
	for i := range r.Flows {
		f := &r.Flows[i]
		if f.Netns != k.Netns || f.Src != k.Src.String() || f.Sport != k.Sport || f.Dst != k.Dst.String() || f.Dport != k.Dport {
			continue
		}
		if f.NAT == nil || f.NAT.Kind != kind {
			t.Errorf("%v: translation %+v, want %s", k, f.NAT, kind)
		}
		for _, l := range f.Losses {
			if l.Unexplained != 0 {
				t.Errorf("%v: %d lost between %s and %s unexplained", k, l.Unexplained, l.From, l.To)
			}
		}
		return
	}
	t.Errorf("%v: not in the report", k)
}

// A connection whose conntrack entry is deleted while its packets flow:
// the next packet makes a new entry with the same translation, and the
// counts stay in the one record. Ground truth: the datagrams exchanged,
// and conntrack saying it deleted the entry.
func TestNATConntrackDeleted(t *testing.T) {
	chains, tr := natSetup(t, 2)
	for i, v6 := range []bool{false, true} {
		c := chains[i]
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			s := newService(c, v6)
			s.nftDNAT(t)
			const n1, n2 = 11, 13
			to := netip.AddrPortFrom(s.vip, servicePort)
			u := openUDP(t, c, testnet.NodeA, s.src, to, testnet.NodeB, netip.AddrPortFrom(s.dst, backendPort))
			u.echo(t, n1)
			fam := "ipv4"
			if v6 {
				fam = "ipv6"
			}
			entries := func(op string) int {
				out, err := testnet.Exec(c.NameR, "", "conntrack", op, "-f", fam, "-p", "udp", "--orig-dst", s.vip.String())
				if err != nil {
					t.Fatal(err)
				}
				return strings.Count(out, "\n")
			}
			if got := entries("-L"); got != 1 {
				t.Fatalf("ground truth: %d conntrack entries before the delete, want 1", got)
			}
			entries("-D")
			if got := entries("-L"); got != 0 {
				t.Fatalf("ground truth: %d conntrack entries after the delete, want 0", got)
			}
			u.echo(t, n2)
			conn := inNetns(udpKey(netip.AddrPortFrom(s.src, u.sport()), to), c.InodeR)
			snap := settled(t, tr, func(s *flow.Snapshot) bool {
				f := s.Flows[conn.Reverse()]
				return f != nil && f.Packets[stage.TxDone] == n1+n2
			})
			expect(t, tr, snap, conn, n1+n2, forwarded)
			expect(t, tr, snap, conn.Reverse(), n1+n2, forwarded)
			expectNoFlowWith(t, snap, c.InodeR, s.dst)
			expectNoSplit(t, snap)
		})
	}
}

// The filter passes a translated connection by either tuple: `host VIP`
// and `host BACKEND` both count the router's record of it whole, at
// every stage of both directions; the namespaces without a translation
// pass what their own tuple says.
func TestNATFilterEitherTuple(t *testing.T) {
	testnet.RequirePrivileged(t)
	requireConntrackTypes(t)
	c := testnet.NewChain(t)
	s := newService(c, false)
	s.nftDNAT(t)
	const n = 17
	for _, host := range []netip.Addr{s.vip, s.dst} {
		t.Run("host "+host.String(), func(t *testing.T) {
			prog, err := filter.Compile("host " + host.String())
			if err != nil {
				t.Fatal(err)
			}
			tr := start(t, Config{Filter: flow.Filter{Program: prog}})
			to := netip.AddrPortFrom(s.vip, servicePort)
			u := openUDP(t, c, testnet.NodeA, s.src, to, testnet.NodeB, netip.AddrPortFrom(s.dst, backendPort))
			u.echo(t, n)
			conn := udpKey(netip.AddrPortFrom(s.src, u.sport()), to)
			backend := udpKey(netip.AddrPortFrom(s.src, u.sport()), netip.AddrPortFrom(s.dst, backendPort))
			snap := settled(t, tr, func(snap *flow.Snapshot) bool {
				f := snap.Flows[inNetns(conn, c.InodeR).Reverse()]
				return f != nil && f.Packets[stage.TxDone] == n
			})
			client, server := uint64(0), uint64(n) // host BACKEND: B's own tuple has it, A's has not
			if host == s.vip {
				client, server = n, 0
				expect(t, tr, snap, inNetns(conn, c.InodeR), n, forwarded)
				expectNoSplit(t, snap)
			} else {
				// The connection's first packet, before conntrack
				// translated it, is not yet known to be the backend's:
				// the stages before conntrack filter it out, and the
				// split is counted.
				stages := snap.Flows[inNetns(conn, c.InodeR)]
				for _, st := range forwarded {
					want := uint64(n)
					if st < stage.IPForward {
						want = n - 1
					}
					if stages == nil || stages.Packets[st] != want {
						t.Errorf("%v: %v, want %d", st, stages, want)
					}
				}
				if snap.Overflow.NATSplit != 1 {
					t.Errorf("nat_split = %d, want 1", snap.Overflow.NATSplit)
				}
			}
			expect(t, tr, snap, inNetns(conn, c.InodeR).Reverse(), n, forwarded)
			expect(t, tr, snap, inNetns(conn, c.InodeA), client, sent)
			expect(t, tr, snap, inNetns(backend, c.InodeB), server, received, []stage.Stage{stage.SockRcv})
		})
	}
}

// Ping through a Service-like DNAT in the router: echo requests and their
// replies are one connection under the identifier, in R under the VIP
// the client pinged, the translation to the backend recorded.
func TestNATPing(t *testing.T) {
	chains, tr := natSetup(t, 2)
	const n = 13
	for i, v6 := range []bool{false, true} {
		c := chains[i]
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			s := newService(c, v6)
			if err := testnet.Nft(c.NameR, fmt.Sprintf(`table inet dsping {
	chain pre { type nat hook prerouting priority dstnat; %s daddr %s dnat %s to %s; }
}
`, s.family(), s.vip, s.family(), s.dst)); err != nil {
				t.Fatal(err)
			}
			f, err := testnet.PingRawIn(func(fn func() error) error { return c.Do(testnet.NodeA, fn) }, c.NameA, s.src, s.vip, n)
			if err != nil {
				t.Fatal(err)
			}
			conn := key(f, c.InodeR, false)
			snap := settled(t, tr, func(s *flow.Snapshot) bool {
				f := s.Flows[conn.Reverse()]
				return f != nil && f.Packets[stage.TxDone] == n
			})
			expect(t, tr, snap, conn, n, forwarded)
			expect(t, tr, snap, conn.Reverse(), n, forwarded)
			translated := conn
			translated.Dst = s.dst
			expectNAT(t, snap, conn, "dnat", translated)
			expectNoFlowWith(t, snap, c.InodeR, s.dst)
			expectNoSplit(t, snap)
		})
	}
}
