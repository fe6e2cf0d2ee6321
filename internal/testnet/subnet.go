package testnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Every topology here takes its IPv4 /24s at random from 198.18.0.0/15,
// in each of the test binaries `go test ./...` runs at once (and in
// `dropspot demo`), and tests know their flows by their addresses: two
// topologies alive together must not share a /24, or one test counts the
// other's packets (seen: a live test's pair on the benchmark's subnet).
// A /24 is held by an exclusive flock on its file under leaseDir until
// the topology closes; the kernel lets go of it if the process dies.
const (
	leaseDir    = "/run/dropspot-testnet"
	testSubnets = 512 // the /24s of 198.18.0.0/15
	// 198.18.200.0/22 is the benchmark's (bench/benchtool/run.go,
	// bench/stagecost.sh): fixed addresses, never handed out here.
	benchFirst, benchCount = 200, 4
	leaseTries             = 200
)

// subnetLease holds consecutive /24s of 198.18.0.0/15 from index first
// (0 is 198.18.0.0/24).
type subnetLease struct {
	first int
	locks []*os.File
}

// leaseSubnets takes n consecutive /24s starting at a multiple of n, at
// random among those no other topology holds. Where leaseDir cannot be
// made or written (not root: no namespaces will be made either) the pick
// is random and unheld.
func leaseSubnets(n int) (*subnetLease, error) {
	if n < 1 || testSubnets%n != 0 {
		return nil, fmt.Errorf("testnet: lease of %d /24s", n)
	}
	held := os.MkdirAll(leaseDir, 0o755) == nil && unix.Access(leaseDir, unix.W_OK) == nil
	for range leaseTries {
		l := &subnetLease{first: rand.N(testSubnets/n) * n}
		if l.first < benchFirst+benchCount && l.first+n > benchFirst {
			continue
		}
		if !held {
			return l, nil
		}
		err := l.lock(n)
		if err == nil {
			return l, nil
		}
		l.release()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("testnet: no free /24 of 198.18.0.0/15 in %d tries (held: %s)", leaseTries, leaseDir)
}

func (l *subnetLease) lock(n int) error {
	for i := l.first; i < l.first+n; i++ {
		f, err := os.OpenFile(filepath.Join(leaseDir, strconv.Itoa(i)), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("testnet: subnet lease: %w", err)
		}
		l.locks = append(l.locks, f)
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			return fmt.Errorf("testnet: subnet lease %s: %w", f.Name(), err)
		}
	}
	return nil
}

// addr is host of the lease's subnet'th /24 (0 is the first).
func (l *subnetLease) addr(subnet int, host byte) netip.Addr {
	n := l.first + subnet
	return netip.AddrFrom4([4]byte{198, byte(18 + n/256), byte(n % 256), host})
}

// release lets the subnets go (closing a file drops its flock). The files
// stay: removing one would let two holders lock different files of one
// name.
func (l *subnetLease) release() {
	if l == nil {
		return
	}
	for _, f := range l.locks {
		f.Close()
	}
	l.locks = nil
}
