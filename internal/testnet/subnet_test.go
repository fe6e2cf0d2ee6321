package testnet

import (
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// A /24 one topology holds is no other's, in this process or another (a
// flock conflicts between open files, whichever process opened them),
// until released.
func TestSubnetLeaseExclusive(t *testing.T) {
	RequirePrivileged(t)
	held, err := leaseSubnets(1)
	if err != nil {
		t.Fatal(err)
	}
	other := &subnetLease{first: held.first}
	if err := other.lock(1); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Errorf("second lease of /24 %d: %v, want EWOULDBLOCK", held.first, err)
	}
	other.release()
	held.release()
	if err := other.lock(1); err != nil {
		t.Errorf("lease of /24 %d after its release: %v", held.first, err)
	}
	other.release()
}

// Leases taken together are distinct, aligned, inside 198.18.0.0/15 and
// outside the benchmark's 198.18.200.0/22.
func TestSubnetLeasesDistinct(t *testing.T) {
	RequirePrivileged(t)
	space := netip.MustParsePrefix("198.18.0.0/15")
	bench := netip.MustParsePrefix("198.18.200.0/22")
	taken := map[netip.Addr]bool{}
	for i := range 60 {
		n := 1 + i%2
		l, err := leaseSubnets(n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.release)
		if l.first%n != 0 {
			t.Errorf("lease of %d /24s at %d: not aligned", n, l.first)
		}
		for s := range n {
			a := l.addr(s, 0)
			if taken[a] || !space.Contains(a) || bench.Contains(a) {
				t.Errorf("lease of %d /24s: %s/24 (taken before: %v; want inside %s, outside %s)", n, a, taken[a],
					space, bench)
			}
			taken[a] = true
		}
	}
}
