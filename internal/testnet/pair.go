package testnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/netns"
)

// Side names one end of a Pair.
type Side int

// The two ends of a Pair.
const (
	A Side = iota
	B
)

func (s Side) String() string {
	switch s {
	case A:
		return "A"
	case B:
		return "B"
	}
	return fmt.Sprintf("Side(%d)", int(s))
}

// Other returns the opposite end.
func (s Side) Other() Side {
	if s == A {
		return B
	}
	return A
}

func (s Side) valid() bool { return s == A || s == B }

// Pair is two named network namespaces, A and B, joined by one veth pair.
//
// Addresses are netip.Addr (comparable, usable as map keys, and what Flow
// holds). Each pair gets its own random 198.18.0.0/15 /24 and 2001:db8::/32
// /64; the namespaces are isolated anyway, but distinct addresses keep the
// flows of concurrent tests apart in a tool that looks at every namespace.
//
// The pair is silent on its own: the veth ends are NOARP with permanent
// neighbour entries for each other and send no router solicitations, so no
// ARP, neighbour discovery, DAD, MLD or RS packet ever crosses the veth
// (measured: 0 packets in 5 s idle). Only the generators' packets do.
type Pair struct {
	NameA, NameB       string // names under /run/netns, as `ip netns list` shows them
	IfA, IfB           string // veth ends: IfA lives in NameA, IfB in NameB
	IfindexA, IfindexB int    // ifindex of IfA (in A) and IfB (in B)
	InodeA, InodeB     uint32 // netns inode numbers, as in /proc/PID/ns/net -> net:[INODE]
	A4, B4             netip.Addr
	A6, B6             netip.Addr

	ns    [2]vns.NsHandle // indexed by Side; open until cleanup
	lease *subnetLease    // A4's /24, held until close
}

// NewPair creates a Pair and registers its deletion with t.Cleanup, which
// runs whether or not the test passes. It fails the test if setup fails.
func NewPair(t T) *Pair {
	t.Helper()
	p, err := newPairConfig()
	if err != nil {
		t.Fatalf("testnet: NewPair: %v", err)
	}
	t.Cleanup(func() {
		if err := p.close(); err != nil {
			t.Errorf("testnet: cleanup of %s/%s: %v", p.NameA, p.NameB, err)
		}
	})
	if err := p.setup(); err != nil {
		t.Fatalf("testnet: NewPair %s/%s: %v", p.NameA, p.NameB, err)
	}
	return p
}

// Create makes a Pair outside tests (dropspot demo); the caller must Close
// it, also on error paths and interrupts.
func Create() (*Pair, error) {
	p, err := newPairConfig()
	if err != nil {
		return nil, err
	}
	if err := p.setup(); err != nil {
		return nil, errors.Join(fmt.Errorf("testnet: create %s/%s: %w", p.NameA, p.NameB, err), p.close())
	}
	return p, nil
}

// Close deletes the namespaces (and with them the veth).
func (p *Pair) Close() error { return p.close() }

// newPairConfig picks the random names and addresses of a new pair. A shared
// random suffix ties the four names together; 24 bits keep parallel and
// leftover pairs from colliding, and "dsa"+6 hex digits fits IFNAMSIZ (15).
// Its /24 is leased (subnet.go) until close.
func newPairConfig() (*Pair, error) {
	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	lease, err := leaseSubnets(1)
	if err != nil {
		return nil, err
	}
	net6 := uint16(rand.N(1 << 16))
	v6 := func(host byte) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(net6 >> 8), byte(net6), 15: host})
	}
	return &Pair{
		NameA: "dsA-" + suffix, NameB: "dsB-" + suffix,
		IfA: "dsa" + suffix, IfB: "dsb" + suffix,
		A4: lease.addr(0, 1), B4: lease.addr(0, 2),
		A6: v6(1), B6: v6(2),
		ns:    [2]vns.NsHandle{vns.None(), vns.None()},
		lease: lease,
	}, nil
}

// Do runs fn inside side's namespace on a locked OS thread and waits for it.
// Sockets created in fn stay in that namespace when Do returns. fn must
// report failure by returning an error, not by calling t.Fatal.
func (p *Pair) Do(side Side, fn func() error) error {
	return <-p.Go(side, fn)
}

// Go starts fn inside side's namespace, for long-lived work such as a server
// loop, and returns a channel that receives fn's result once. The thread
// stays locked in the namespace for the whole of fn. fn must stop by itself
// (deadlines, or closing its listener from outside); the channel is buffered,
// so abandoning it leaks nothing once fn returns.
func (p *Pair) Go(side Side, fn func() error) <-chan error {
	if !side.valid() {
		errc := make(chan error, 1)
		errc <- fmt.Errorf("testnet: invalid side %v", side)
		return errc
	}
	return netns.Go(netns.Named(p.name(side)), fn)
}

func (p *Pair) name(s Side) string {
	if s == A {
		return p.NameA
	}
	return p.NameB
}

// route returns the source and destination addresses for traffic sent from
// side from to the other side.
func (p *Pair) route(from Side, v6 bool) (src, dst netip.Addr, err error) {
	if !from.valid() {
		return src, dst, fmt.Errorf("testnet: invalid side %v", from)
	}
	a, b := p.A4, p.B4
	if v6 {
		a, b = p.A6, p.B6
	}
	if from == B {
		a, b = b, a
	}
	return a, b, nil
}

// nsSysctls are written in both namespaces before the veth exists, so its
// per-device IPv6 settings inherit the "default" values set here.
var nsSysctls = []sysctl{
	// Off: the per-destination ICMP error limit (1/s, burst 6)...
	{"net/ipv4/icmp_ratelimit", "0"},
	{"net/ipv6/icmp/ratelimit", "0"},
	// ...but that leaves a per-namespace bucket shared by IPv4 and IPv6
	// (1000/s, burst 50; measured: 44 of 100 port unreachables sent). An
	// empty ratemask exempts every ICMP type from both limits, so each
	// offending packet gets its error, every run.
	{"net/ipv4/icmp_ratemask", "0"},
	{"net/ipv6/icmp/ratemask", "\n"},
	// Let root use ICMP "ping" sockets; a new namespace allows no group ("1 0").
	{"net/ipv4/ping_group_range", "0 2147483647"},
	// No router solicitations after link-up (2 per side otherwise).
	{"net/ipv6/conf/default/router_solicitations", "0"},
}

// sysctl is one setting under /proc/sys.
type sysctl struct{ key, value string }

// setSysctls must run on a thread inside the target namespace: a
// /proc/sys/net file applies to the namespace of the thread that opens it.
func setSysctls(list []sysctl) error {
	for _, s := range list {
		if err := os.WriteFile(filepath.Join("/proc/sys", s.key), []byte(s.value), 0); err != nil {
			return fmt.Errorf("sysctl %s=%q: %w", s.key, s.value, err)
		}
	}
	return nil
}

// writeSysctls sets nsSysctls in the thread's namespace.
func writeSysctls() error { return setSysctls(nsSysctls) }

func (p *Pair) setup() error {
	for _, s := range []Side{A, B} {
		var err error
		if p.ns[s], err = netns.CreateNamed(p.name(s)); err != nil {
			return err
		}
		if err := p.Do(s, writeSysctls); err != nil {
			return fmt.Errorf("netns %s: %w", p.name(s), err)
		}
	}
	hA, err := netlink.NewHandleAt(p.ns[A])
	if err != nil {
		return fmt.Errorf("netlink handle in %s: %w", p.NameA, err)
	}
	defer hA.Close()
	hB, err := netlink.NewHandleAt(p.ns[B])
	if err != nil {
		return fmt.Errorf("netlink handle in %s: %w", p.NameB, err)
	}
	defer hB.Close()

	// Create the veth inside A with its peer directly in B: it never
	// appears in the caller's namespace, not even if the test dies here.
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: p.IfA},
		PeerName:      p.IfB,
		PeerNamespace: netlink.NsFd(p.ns[B]),
	}
	if err := hA.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s/%s: %w", p.IfA, p.IfB, err)
	}
	a := end{h: hA, ns: p.NameA, ifname: p.IfA, v4: p.A4, v6: p.A6}
	b := end{h: hB, ns: p.NameB, ifname: p.IfB, v4: p.B4, v6: p.B6}
	for _, e := range []*end{&a, &b} {
		if e.link, err = e.h.LinkByName(e.ifname); err != nil {
			return fmt.Errorf("netns %s: find %s: %w", e.ns, e.ifname, err)
		}
	}
	if err := a.configure(&b); err != nil {
		return err
	}
	if err := b.configure(&a); err != nil {
		return err
	}
	// A new veth carries nothing until the kernel's link watcher gives it
	// a real qdisc (it starts on noop, which drops) and IPv6 its routes;
	// with both ends at the same ifindex that can take up to a second.
	for _, e := range []*end{&a, &b} {
		if err := waitReady(e); err != nil {
			return err
		}
	}
	p.IfindexA, p.IfindexB = a.link.Attrs().Index, b.link.Attrs().Index

	if p.InodeA, err = netns.Inode(netns.Named(p.NameA)); err != nil {
		return err
	}
	p.InodeB, err = netns.Inode(netns.Named(p.NameB))
	return err
}

// end is one side of the veth while it is being configured.
type end struct {
	h      *netlink.Handle // netlink socket inside the end's namespace
	ns     string
	ifname string
	link   netlink.Link
	v4, v6 netip.Addr
}

// configure brings lo and the veth end up, adds the addresses and permanent
// neighbour entries for the peer's addresses.
func (e *end) configure(peer *end) error {
	lo, err := e.h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns %s: find lo: %w", e.ns, err)
	}
	// NOARP before the link comes up: IPv6 then joins no solicited-node
	// multicast groups on it, so it sends no MLD reports (and does no DAD).
	// The permanent neighbour entries below supply the peer's MAC, which a
	// NOARP device would otherwise take to be its own.
	if err := e.h.LinkSetARPOff(e.link); err != nil {
		return fmt.Errorf("netns %s: set %s noarp: %w", e.ns, e.ifname, err)
	}
	for _, l := range []netlink.Link{lo, e.link} {
		if err := e.h.LinkSetUp(l); err != nil {
			return fmt.Errorf("netns %s: set %s up: %w", e.ns, l.Attrs().Name, err)
		}
	}
	addrs := []*netlink.Addr{
		{IPNet: ipNet(e.v4, 24)},
		{IPNet: ipNet(e.v6, 64), Flags: unix.IFA_F_NODAD},
	}
	for _, a := range addrs {
		if err := e.h.AddrAdd(e.link, a); err != nil {
			return fmt.Errorf("netns %s: add %s to %s: %w", e.ns, a.IPNet, e.ifname, err)
		}
	}
	return e.addNeighbours(peer)
}

// addNeighbours adds permanent neighbour entries for the peer's addresses
// with the MAC of the peer's link.
func (e *end) addNeighbours(peer *end) error {
	for _, ip := range []netip.Addr{peer.v4, peer.v6} {
		family := unix.AF_INET
		if ip.Is6() {
			family = unix.AF_INET6
		}
		n := &netlink.Neigh{
			LinkIndex:    e.link.Attrs().Index,
			Family:       family,
			State:        netlink.NUD_PERMANENT,
			IP:           ip.AsSlice(),
			HardwareAddr: peer.link.Attrs().HardwareAddr,
		}
		if err := e.h.NeighAdd(n); err != nil {
			return fmt.Errorf("netns %s: add neighbour %s on %s: %w", e.ns, ip, e.ifname, err)
		}
	}
	return nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}

// close deletes what setup created. The veth needs no step of its own: it is
// destroyed with its namespaces once the last reference (bind mount, open
// handle, socket) to them is gone.
func (p *Pair) close() error {
	defer p.lease.release()
	var errs []error
	for _, s := range []Side{A, B} {
		if !p.ns[s].IsOpen() {
			continue
		}
		if err := p.ns[s].Close(); err != nil {
			errs = append(errs, fmt.Errorf("close netns %s: %w", p.name(s), err))
		}
		p.ns[s] = vns.None()
		if err := netns.DeleteNamed(p.name(s)); err != nil {
			errs = append(errs, fmt.Errorf("delete netns %s: %w", p.name(s), err))
		}
	}
	return errors.Join(errs...)
}
