package report

import (
	"net/netip"
	"testing"

	"github.com/dropspot/dropspot/internal/flow"
)

// The connection's line names the translation and the ends it changed in
// this direction: the destination of a DNAT connection's requests, the
// source of its replies, both when both changed.
func TestNATText(t *testing.T) {
	client, vip, backend := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.3.100"),
		netip.MustParseAddr("198.18.3.2")
	conn := flow.Key{Proto: 6, Src: client, Sport: 40000, Dst: vip, Dport: 80, Netns: 1}
	routerSide := netip.MustParseAddr("198.18.3.1")
	for _, tc := range []struct {
		key  flow.Key
		nat  flow.NAT
		want string
	}{
		{conn, flow.NAT{DNAT: true, Tuple: flow.Key{Src: client, Sport: 40000, Dst: backend, Dport: 8080}}, "  DNAT -> 198.18.3.2:8080"},
		{conn.Reverse(), flow.NAT{DNAT: true, Tuple: flow.Key{Src: backend, Sport: 8080, Dst: client, Dport: 40000}}, "  DNAT 198.18.3.2:8080 ->"},
		{conn, flow.NAT{DNAT: true, SNAT: true, Tuple: flow.Key{Src: routerSide, Sport: 1024, Dst: backend, Dport: 8080}},
			"  DNAT+SNAT 198.18.3.1:1024 -> 198.18.3.2:8080"},
	} {
		flows := []Flow{{key: tc.key, Src: tc.key.Src.String(), Sport: tc.key.Sport, Dst: tc.key.Dst.String(), Dport: tc.key.Dport}}
		setNAT(flows, map[flow.Key]flow.NAT{tc.key: tc.nat})
		if got := string(appendNATText(nil, &flows[0])); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.key, got, tc.want)
		}
	}
}
