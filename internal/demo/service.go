package demo

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/dropspot/dropspot/internal/faults"
	"github.com/dropspot/dropspot/internal/testnet"
)

// Ports of the Service-like fault: clients ask for servicePort, DNAT
// sends them to backendPort, where nobody listens.
const (
	servicePort = 80
	backendPort = 81
)

// serviceToClosedPort is a Service whose DNAT points at a port its
// backend does not serve (a pod listening elsewhere): NO_SOCKET in the
// namespace that translates, reported under the client's connection
// (udp/80) with the translation. The rule is made before tracing starts,
// so that conntrack (a module on most hosts) is loaded by then: its types
// are how dropspot reads conntrack entries.
var serviceToClosedPort = fault{name: "service DNAT udp/80 to a port nobody serves", reason: "NO_SOCKET",
	stage: "l4.rcv",
	prepare: func(e *env) error {
		p := e.pair
		return testnet.Nft(p.NameB, fmt.Sprintf(`table inet dropspot_demo {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr %s udp dport %d dnat ip to %s
	}
}
`, p.B4, servicePort, netip.AddrPortFrom(p.B4, backendPort)))
	},
	run: func(e *env) (where, error) {
		const n = 40
		c, err := faults.WatchNoPorts(e.b)
		if err != nil {
			return where{}, err
		}
		if err := sendUDP(e, e.pair.A4, netip.AddrPortFrom(e.pair.B4, servicePort), n, 32); err != nil {
			return where{}, err
		}
		// The next fault's datagrams to a closed port count in the same
		// counter: take this one's now.
		dropped, err := settledCount(c, n)
		truth := func() (uint64, error) { return dropped, nil }
		return where{e.pair.InodeB, "udp", servicePort, truth, "Udp.NoPorts", true}, err
	}}

// settledCount waits (a second at most) for c to reach want, and returns
// what it reached.
func settledCount(c *faults.Counters, want uint64) (uint64, error) {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := c.Dropped()
		if err != nil || got >= want || time.Now().After(deadline) {
			return got, err
		}
	}
}
