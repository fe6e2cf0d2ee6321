package tracer

import (
	"net/netip"
	"testing"

	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/testnet"
)

// liveNATCase is one kind of live flow through a translation.
type liveNATCase struct {
	name string
	v6   bool
	// gen starts the flow: its server listens on one address, its
	// client connects to another that a translation takes there.
	gen func(t *testing.T, l *liveFlow, inSrc, inDst func(func() error) error, src netip.Addr, listen, via netip.AddrPort)
	// UDP goes one way; TCP's ACKs come back through the translating
	// namespace, where its stages before conntrack see the reply's own
	// tuple.
	directions int
}

// forEachLiveNAT runs fn for UDP and TCP, IPv4 and IPv6; -short (the
// kernel matrix, where a start verifies the programs under emulation for
// ~20 s and a live case takes ~45 s) for the case named short only.
func forEachLiveNAT(t *testing.T, short string, fn func(t *testing.T, tc liveNATCase)) {
	testnet.RequirePrivileged(t)
	requireConntrackTypes(t)
	for _, tc := range []liveNATCase{
		{"tcp4", false, liveTCPVia, 2}, {"udp6", true, liveUDPVia, 1},
		{"udp4", false, liveUDPVia, 1}, {"tcp6", true, liveTCPVia, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.name != short {
				t.Skip("-short: " + short + " only")
			}
			fn(t, tc)
		})
	}
}

// TestLiveNATService: a connection to a Service-like address, translated
// in the router (nft DNAT to the backend), already running when dropspot
// starts and still running after it stops. Its conntrack entry, and so
// its translation, is older than the tracer: the reply tuples are not in
// the tracer's map until a packet of the connection passes a stage after
// conntrack. Every stage of every namespace's path must still count the
// same packets under the connection as the client knows it — the router's
// directions under client <-> VIP:80, with the translation shown — and no
// record in the router may carry the backend's address, nor any packet be
// split between the two (nat_split).
func TestLiveNATService(t *testing.T) {
	forEachLiveNAT(t, "tcp4", func(t *testing.T, tc liveNATCase) {
		c := testnet.NewChain(t)
		s := newService(c, tc.v6)
		s.nftDNAT(t)
		inA := func(fn func() error) error { return c.Do(testnet.NodeA, fn) }
		inB := func(fn func() error) error { return c.Do(testnet.NodeB, fn) }
		l := newLiveFlow(t)
		tc.gen(t, l, inA, inB, s.src, netip.AddrPortFrom(s.dst, backendPort), netip.AddrPortFrom(s.vip, servicePort))
		tr, snap, r := traceLive(t, l, Config{})
		expectWhole(t, tr, r, s.src, s.vip, map[uint32]string{c.InodeA: "local-out", c.InodeR: "forward"})
		expectWhole(t, tr, r, s.src, s.dst, map[uint32]string{c.InodeB: "local-in"})
		expectNoFlowWith(t, snap, c.InodeR, s.dst)
		expectTranslated(t, r, c.InodeR, tc.directions, "dnat",
			netip.AddrPortFrom(s.src, 0), netip.AddrPortFrom(s.vip, servicePort),
			netip.AddrPortFrom(s.src, 0), netip.AddrPortFrom(s.dst, backendPort))
		expectNoSplit(t, snap)
	})
}

// TestLivePodMasquerade: a pod — a namespace made by `unshare --net`, as a
// container runtime makes them — talks to B through its node A, which
// masquerades it, and R: four namespaces, the connection running before
// dropspot starts and after it stops. The pod and the node count it under
// the pod's tuple (the node's both directions, with the SNAT shown), R and
// B under the node's address; every stage of every path equal, no record
// in the node with its own address, nothing split.
func TestLivePodMasquerade(t *testing.T) {
	forEachLiveNAT(t, "tcp6", func(t *testing.T, tc liveNATCase) {
		c := testnet.NewChain(t)
		pod := testnet.NewPod(t, c)
		src, node, dst := pod.V4, c.A4, c.B4
		if tc.v6 {
			src, node, dst = pod.V6, c.A6, c.B6
		}
		inB := func(fn func() error) error { return c.Do(testnet.NodeB, fn) }
		l := newLiveFlow(t)
		tc.gen(t, l, pod.Do, inB, src, netip.AddrPortFrom(dst, 0), netip.AddrPort{})
		tr, snap, r := traceLive(t, l, Config{})
		expectWhole(t, tr, r, src, dst, map[uint32]string{pod.Inode: "local-out", c.InodeA: "forward"})
		expectWhole(t, tr, r, node, dst, map[uint32]string{c.InodeR: "forward", c.InodeB: "local-in"})
		expectNoFlowWith(t, snap, c.InodeA, node)
		expectTranslated(t, r, c.InodeA, tc.directions, "snat",
			netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0),
			netip.AddrPortFrom(node, 0), netip.AddrPortFrom(dst, 0))
		expectNoSplit(t, snap)
	})
}

// expectTranslated: in netns, the connection from src to dst has its
// directions, each showing the translation (kind) it went through to the
// tuple xsrc -> xdst. A port of 0 is any port (a masquerade picks it).
func expectTranslated(t *testing.T, r *report.Report, netns uint32, directions int, kind string, src, dst, xsrc, xdst netip.AddrPort) {
	t.Helper()
	is := func(addr string, port uint16, want netip.AddrPort) bool {
		return addr == want.Addr().String() && (want.Port() == 0 || port == want.Port())
	}
	seen := 0
	for _, f := range r.Flows {
		if f.Netns != netns {
			continue
		}
		var ok bool
		switch {
		case is(f.Src, f.Sport, src) && is(f.Dst, f.Dport, dst):
			ok = f.NAT != nil && f.NAT.Kind == kind && is(f.NAT.Src, f.NAT.Sport, xsrc) && is(f.NAT.Dst, f.NAT.Dport, xdst)
		case is(f.Src, f.Sport, dst) && is(f.Dst, f.Dport, src):
			ok = f.NAT != nil && f.NAT.Kind == kind && is(f.NAT.Src, f.NAT.Sport, xdst) && is(f.NAT.Dst, f.NAT.Dport, xsrc)
		default:
			continue
		}
		seen++
		if !ok {
			t.Errorf("netns %d: %s:%d -> %s:%d translation %+v, want %s to %v -> %v (or its reverse)", netns, f.Src, f.Sport, f.Dst, f.Dport,
				f.NAT, kind, xsrc, xdst)
		}
	}
	if seen != directions {
		t.Errorf("netns %d: %d directions of %v -> %v, want %d", netns, seen, src, dst, directions)
	}
}

// TestLiveNATTCPLoss is TestLiveTCPLoss through a Service DNAT, on a
// connection older than dropspot, data from the client and from the
// backend: the router drops every tcpLossEvery-th data segment. The
// router's stages and drops count under the connection as the client
// knows it; the retransmissions and the arrivals after the drops are
// matched to them at both ends, though the backend knows the connection
// by the tuple after the translation (from the client: the receiver;
// from the backend: the sender of the replies).
func TestLiveNATTCPLoss(t *testing.T) {
	testnet.RequirePrivileged(t)
	testnet.RequireTool(t, "nft")
	requireConntrackTypes(t)
	for _, tc := range []struct {
		name           string
		v6, fromServer bool
	}{{"v4/from-client", false, false}, {"v4/from-backend", false, true}, {"v6/from-client", true, false}, {"v6/from-backend", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.name != "v4/from-backend" {
				// The kernel matrix (see forEachLiveNAT): the
				// backend's retransmissions take the reply's tuple.
				t.Skip("-short: v4/from-backend only")
			}
			c := newQuietChain(t)
			s := newService(c.Chain, tc.v6)
			s.nftDNAT(t)
			tr, snap, r := liveTCPLoss(t, c, s.src, netip.AddrPortFrom(s.dst, backendPort), netip.AddrPortFrom(s.vip, servicePort), tc.fromServer)
			expectWindowed(t, tr, r, s.src, s.vip, map[uint32]string{c.InodeA: "local-out", c.InodeR: "forward"}, true)
			expectWindowed(t, tr, r, s.src, s.dst, map[uint32]string{c.InodeB: "local-in"}, true)
			expectNoFlowWith(t, snap, c.InodeR, s.dst)
			expectTranslated(t, r, c.InodeR, 2, "dnat",
				netip.AddrPortFrom(s.src, 0), netip.AddrPortFrom(s.vip, servicePort),
				netip.AddrPortFrom(s.src, 0), netip.AddrPortFrom(s.dst, backendPort))
			expectNoSplit(t, snap)
			from, to := s.src.String(), s.vip.String()
			if tc.fromServer {
				from, to = to, from
			}
			var dropped uint64
			for _, f := range r.Flows {
				if f.Netns == c.InodeR && f.Src == from && f.Dst == to {
					for _, d := range f.Drops {
						if reasonIs(tr, d.Reason, "NETFILTER_DROP") && d.Stage == "ip.forward" {
							dropped += d.Count
						}
					}
				}
			}
			if dropped == 0 {
				t.Error("no NETFILTER_DROP after ip.forward in the router's record of the connection")
			}
		})
	}
}
