package testnet

import (
	"net/netip"
	"testing"
)

func TestFlowString(t *testing.T) {
	f := Flow{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Sport: 1, Dport: 2, Proto: "udp"}
	if got, want := f.String(), "udp [2001:db8::1]:1 -> [2001:db8::2]:2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestGeneratorArgs(t *testing.T) {
	p, err := newPairConfig() // argument checks come before any namespace use
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.lease.release)
	for name, gen := range map[string]func() (Flow, error){
		"udp n=0":         func() (Flow, error) { return UDP(p, A, 0, 10, false) },
		"udp huge":        func() (Flow, error) { return UDP(p, A, 1, 70000, false) },
		"closed n=-1":     func() (Flow, error) { return UDPToClosedPort(p, A, -1, 10, false) },
		"tcp negative":    func() (Flow, error) { return TCP(p, A, -1, false) },
		"ping n too high": func() (Flow, error) { return Ping(p, A, maxCount+1, false) },
		"raw ping n zero": func() (Flow, error) { return PingRaw(p, A, 0, false) },
		"udp bad side":    func() (Flow, error) { return UDP(p, Side(2), 1, 1, false) },
	} {
		if _, err := gen(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestPairTraffic runs every generator in both IP versions and checks the
// kernel's own counters in both namespaces. The pair is silent on its own
// (no ARP, ND, MLD or router solicitations), so the deltas are exact.
func TestPairTraffic(t *testing.T) {
	RequirePrivileged(t)
	p := NewPair(t)
	for _, v6 := range []bool{false, true} {
		// k picks the IPv4 or the IPv6 name of a counter.
		k := func(v4key, v6key string) string {
			if v6 {
				return v6key
			}
			return v4key
		}
		icmp := k("icmp", "icmp6")
		cases := []struct {
			name  string
			gen   func() (Flow, error)
			from  Side
			proto string
			want  map[Side]map[string]uint64 // exact counter deltas
		}{
			{
				name: "udp", from: A, proto: "udp",
				gen: func() (Flow, error) { return UDP(p, A, 50, 100, v6) },
				want: map[Side]map[string]uint64{
					A: {k("Udp.OutDatagrams", "Udp6.OutDatagrams"): 50, k("Ip.OutRequests", "Ip6.OutRequests"): 50},
					B: {k("Udp.InDatagrams", "Udp6.InDatagrams"): 50, k("Ip.InReceives", "Ip6.InReceives"): 50},
				},
			},
			{
				name: "udp-closed-port", from: A, proto: "udp",
				// 60 is above the burst (50) of the per-namespace ICMP limit.
				gen: func() (Flow, error) { return UDPToClosedPort(p, A, 60, 10, v6) },
				want: map[Side]map[string]uint64{
					A: {k("Icmp.InDestUnreachs", "Icmp6.InDestUnreachs"): 60},
					B: {
						k("Udp.NoPorts", "Udp6.NoPorts"):                   60,
						k("Udp.InDatagrams", "Udp6.InDatagrams"):           0,
						k("Icmp.OutDestUnreachs", "Icmp6.OutDestUnreachs"): 60,
						// Shared by IPv4 and IPv6.
						"Icmp.OutRateLimitGlobal": 0,
						"Icmp.OutRateLimitHost":   0,
					},
				},
			},
			{
				// Tcp.* counts IPv4 and IPv6 together. Segment counts
				// depend on GSO, so only the connection counters are exact.
				name: "tcp", from: A, proto: "tcp",
				gen: func() (Flow, error) { return TCP(p, A, 100000, v6) },
				want: map[Side]map[string]uint64{
					A: {"Tcp.ActiveOpens": 1, "Tcp.PassiveOpens": 0, "Tcp.CurrEstab": 0, "Tcp.EstabResets": 0, "Tcp.OutRsts": 0},
					B: {"Tcp.ActiveOpens": 0, "Tcp.PassiveOpens": 1, "Tcp.CurrEstab": 0, "Tcp.EstabResets": 0, "Tcp.OutRsts": 0},
				},
			},
			{
				name: "ping", from: B, proto: icmp,
				gen: func() (Flow, error) { return Ping(p, B, 10, v6) },
				want: map[Side]map[string]uint64{
					A: {k("Icmp.InEchos", "Icmp6.InEchos"): 10, k("Icmp.OutEchoReps", "Icmp6.OutEchoReplies"): 10},
					B: {k("Icmp.OutEchos", "Icmp6.OutEchos"): 10, k("Icmp.InEchoReps", "Icmp6.InEchoReplies"): 10},
				},
			},
			{
				name: "ping-raw", from: B, proto: icmp,
				gen: func() (Flow, error) { return PingRaw(p, B, 10, v6) },
				want: map[Side]map[string]uint64{
					A: {k("Icmp.InEchos", "Icmp6.InEchos"): 10, k("Icmp.OutEchoReps", "Icmp6.OutEchoReplies"): 10},
					B: {k("Icmp.OutEchos", "Icmp6.OutEchos"): 10, k("Icmp.InEchoReps", "Icmp6.InEchoReplies"): 10},
				},
			},
			{
				name: "echo-replies", from: A, proto: icmp,
				gen: func() (Flow, error) { return EchoReplies(p, A, 10, v6) },
				want: map[Side]map[string]uint64{
					A: {k("Icmp.OutEchoReps", "Icmp6.OutEchoReplies"): 10, k("Icmp.InEchos", "Icmp6.InEchos"): 0},
					B: {k("Icmp.InEchoReps", "Icmp6.InEchoReplies"): 10, k("Icmp.OutEchos", "Icmp6.OutEchos"): 0},
				},
			},
		}
		for _, c := range cases {
			t.Run(k("ipv4", "ipv6")+"/"+c.name, func(t *testing.T) {
				before := snapshot(t, p)
				f, err := c.gen()
				if err != nil {
					t.Fatal(err)
				}
				after := snapshot(t, p)
				src, dst, _ := p.route(c.from, v6)
				if f.Src != src || f.Dst != dst || f.Proto != c.proto || f.Sport == 0 || f.Dport == 0 {
					t.Errorf("flow %v: want %s from %s to %s with both ports set", f, c.proto, src, dst)
				}
				for side, counters := range c.want {
					for key, want := range counters {
						a, ok := after[side][key]
						if !ok {
							t.Errorf("%v: no counter %s", side, key)
							continue
						}
						if got := a - before[side][key]; got != want {
							t.Errorf("%v: %s went up by %d, want %d", side, key, got, want)
						}
					}
				}
			})
		}
	}
}

// snapshot returns the counters of both namespaces, indexed by Side.
func snapshot(t *testing.T, p *Pair) [2]map[string]uint64 {
	t.Helper()
	var s [2]map[string]uint64
	for _, side := range []Side{A, B} {
		var err error
		if s[side], err = Nstat(p, side); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
