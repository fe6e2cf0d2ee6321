package tracer

import (
	"maps"
	"net/netip"
	"testing"

	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/testnet"
)

// TestLiveNATService: a connection to a Service-like address, translated
// in the router (nft DNAT to the backend), already running when dropspot
// starts and still running after it stops. Its conntrack entry, and so
// its translation, is older than the tracer: the reply tuples are not in
// the tracer's map until a packet of the connection passes a stage after
// conntrack. Every stage of every namespace's path must still count the
// same packets under the connection as the client knows it — the router's
// both directions under client <-> VIP:80, with the translation shown —
// and no record in the router may carry the backend's address, nor any
// packet be split between the two (nat_split).
func TestLiveNATService(t *testing.T) {
	testnet.RequirePrivileged(t)
	requireConntrackTypes(t)
	type via func(*testing.T, *liveFlow, func(func() error) error, func(func() error) error, netip.Addr, netip.AddrPort, netip.AddrPort)
	for _, tc := range []struct {
		name string
		v6   bool
		gen  via
		// UDP goes one way; TCP's ACKs come back through the router,
		// where its stages before conntrack see the backend's tuple.
		directions int
	}{{"tcp4", false, liveTCPVia, 2}, {"udp6", true, liveUDPVia, 1}, {"udp4", false, liveUDPVia, 1}, {"tcp6", true, liveTCPVia, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && (tc.name == "udp4" || tc.name == "tcp6") {
				// The kernel matrix: each start verifies the programs
				// under emulation for ~20 s; one case of each protocol
				// and family covers the key's code there.
				t.Skip("-short: tcp4 and udp6 only")
			}
			c := testnet.NewChain(t)
			s := newService(c, tc.v6)
			s.nftDNAT(t)
			inA := func(fn func() error) error { return c.Do(testnet.NodeA, fn) }
			inB := func(fn func() error) error { return c.Do(testnet.NodeB, fn) }
			l := newLiveFlow()
			tc.gen(t, l, inA, inB, s.src, netip.AddrPortFrom(s.dst, backendPort), netip.AddrPortFrom(s.vip, servicePort))
			tr, r := traceLive(t, l, Config{})
			expectWhole(t, tr, r, s.src, s.vip, map[uint32]string{c.InodeA: "local-out", c.InodeR: "forward"})
			expectWhole(t, tr, r, s.src, s.dst, map[uint32]string{c.InodeB: "local-in"})
			expectServiceTranslated(t, r, s, c.InodeR, tc.directions)
			if r.Overflow.NATSplit != 0 {
				t.Errorf("nat_split = %d, want 0", r.Overflow.NATSplit)
			}
		})
	}
}

// expectServiceTranslated: in the router, the service's connection has
// its directions, each with the DNAT it went through, and nothing names
// the backend.
func expectServiceTranslated(t *testing.T, r *report.Report, s service, router uint32, directions int) {
	t.Helper()
	src, vip, backend := s.src.String(), s.vip.String(), s.dst.String()
	seen := 0
	for _, f := range r.Flows {
		if f.Netns != router {
			continue
		}
		if f.Src == backend || f.Dst == backend {
			t.Errorf("router: a record with the backend's address: %s %s:%d -> %s:%d %v", f.Proto, f.Src, f.Sport, f.Dst, f.Dport, maps.Collect(f.StagePackets()))
			continue
		}
		var want report.NAT
		switch {
		case f.Src == src && f.Dst == vip && f.Dport == servicePort:
			want = report.NAT{Kind: "dnat", Src: src, Sport: f.Sport, Dst: backend, Dport: backendPort}
		case f.Src == vip && f.Sport == servicePort && f.Dst == src:
			want = report.NAT{Kind: "dnat", Src: backend, Sport: backendPort, Dst: src, Dport: f.Dport}
		default:
			continue
		}
		seen++
		if f.NAT == nil || *f.NAT != want {
			t.Errorf("router: %s:%d -> %s:%d translation %+v, want %+v", f.Src, f.Sport, f.Dst, f.Dport, f.NAT, want)
		}
	}
	if seen != directions {
		t.Errorf("router: %d directions of the service's connection, want %d", seen, directions)
	}
}
