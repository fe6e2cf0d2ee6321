package testnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/netns"
)

// Node names one namespace of a Chain.
type Node int

// The three namespaces of a Chain, in path order.
const (
	NodeA Node = iota // one end
	NodeR             // the router between them
	NodeB             // the other end
)

func (n Node) String() string {
	switch n {
	case NodeA:
		return "A"
	case NodeR:
		return "R"
	case NodeB:
		return "B"
	}
	return fmt.Sprintf("Node(%d)", int(n))
}

func (n Node) valid() bool { return n >= NodeA && n <= NodeB }

// Chain is three named namespaces in a line, A — R — B, for traffic that
// is forwarded: a veth pair joins A and R (subnet 1), another R and B
// (subnet 2). R forwards IPv4 and IPv6; A and B reach each other's subnet
// through R. Like a Pair, it is silent on its own (NOARP links with
// permanent neighbour entries, no DAD, no router solicitations; R's links
// carry no multicast, so forwarding sends no MLD reports either), and
// ICMP errors are not rate limited, so R answers every expired packet.
type Chain struct {
	NameA, NameR, NameB    string // under /run/netns
	InodeA, InodeR, InodeB uint32 // netns inodes (net:[INODE])

	IfA, IfRA string // subnet 1: IfA in A, IfRA in R
	IfRB, IfB string // subnet 2: IfRB in R, IfB in B

	A4, RA4, RB4, B4 netip.Addr // RA4 on IfRA, RB4 on IfRB
	A6, RA6, RB6, B6 netip.Addr

	ns    [3]vns.NsHandle // indexed by Node; open until cleanup
	lease *subnetLease    // the two /24s, held until close
}

// routerSysctls turn R into a router. They are written once R's links
// exist and have multicast off: a link that turns to IPv6 forwarding with
// multicast on joins the all-routers groups (ff02::2, ff05::2) and
// announces them in MLD reports (measured: 10 in 3 s). Turned on before
// the links exist, they would join at creation.
var routerSysctls = []sysctl{
	{"net/ipv4/ip_forward", "1"},
	{"net/ipv6/conf/all/forwarding", "1"},
}

// NewChain creates a Chain and registers its deletion with t.Cleanup. It
// fails the test if setup fails.
func NewChain(t T) *Chain {
	t.Helper()
	c, err := newChainConfig()
	if err != nil {
		t.Fatalf("testnet: NewChain: %v", err)
	}
	t.Cleanup(func() {
		if err := c.close(); err != nil {
			t.Errorf("testnet: cleanup of chain %s/%s/%s: %v", c.NameA, c.NameR, c.NameB, err)
		}
	})
	if err := c.setup(); err != nil {
		t.Fatalf("testnet: NewChain %s/%s/%s: %v", c.NameA, c.NameR, c.NameB, err)
	}
	return c
}

// CreateChain makes a Chain outside tests (dropspot demo); the caller
// must Close it, also on error paths and interrupts.
func CreateChain() (*Chain, error) {
	c, err := newChainConfig()
	if err != nil {
		return nil, err
	}
	if err := c.setup(); err != nil {
		return nil, errors.Join(fmt.Errorf("testnet: create chain %s/%s/%s: %w", c.NameA, c.NameR, c.NameB, err), c.close())
	}
	return c, nil
}

// Close deletes the namespaces (and with them the veths).
func (c *Chain) Close() error { return c.close() }

// SetOffloads turns TSO, GSO and GRO off (or on) on every device of the
// chain: with them off, a firewall counter in R or B counts segments.
func (c *Chain) SetOffloads(on bool) error {
	for _, d := range []struct {
		node Node
		dev  string
	}{{NodeA, c.IfA}, {NodeR, c.IfRA}, {NodeR, c.IfRB}, {NodeB, c.IfB}} {
		if err := c.Do(d.node, func() error { return SetOffloads(d.dev, on) }); err != nil {
			return err
		}
	}
	return nil
}

// SetLargeTCPReceiveBuffers starts every TCP socket of A and B with a
// receive buffer of largeTCPReceiveBuffer bytes (net.ipv4.tcp_rmem's
// default and limit, per namespace; IPv6 sockets use it too). A receiver
// whose reader falls behind (a loaded machine) drops segments it has no
// memory for (TCP_OFO_DROP, queue pruning), and TCP retransmits them: a
// buffer that holds a whole transfer keeps a connection's drops to the
// ones its test or demo makes.
func (c *Chain) SetLargeTCPReceiveBuffers() error {
	n := strconv.Itoa(largeTCPReceiveBuffer)
	rmem := []sysctl{{"net/ipv4/tcp_rmem", "4096 " + n + " " + n}}
	for _, node := range []Node{NodeA, NodeB} {
		if err := c.Do(node, func() error { return setSysctls(rmem) }); err != nil {
			return fmt.Errorf("testnet: %s: %w", c.Name(node), err)
		}
	}
	return nil
}

// largeTCPReceiveBuffer holds a transfer of some 12 MiB with offloads off
// (a 1448-byte segment takes ~2.3 KiB of buffer).
const largeTCPReceiveBuffer = 32 << 20

// newChainConfig picks names and addresses: two /24s of 198.18.0.0/15 that
// differ in their last bit (leased until close, subnet.go), and two /64s
// of one 2001:db8:x::/48.
func newChainConfig() (*Chain, error) {
	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	lease, err := leaseSubnets(2)
	if err != nil {
		return nil, err
	}
	net6 := uint16(rand.N(1 << 16))
	v4 := func(subnet int, host byte) netip.Addr { return lease.addr(subnet-1, host) }
	v6 := func(subnet int, host byte) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(net6 >> 8), byte(net6), 7: byte(subnet), 15: host})
	}
	return &Chain{
		NameA: "dcA-" + suffix, NameR: "dcR-" + suffix, NameB: "dcB-" + suffix,
		IfA: "dca" + suffix, IfRA: "dcra" + suffix, IfRB: "dcrb" + suffix, IfB: "dcb" + suffix,
		A4: v4(1, 1), RA4: v4(1, 2), RB4: v4(2, 1), B4: v4(2, 2),
		A6: v6(1, 1), RA6: v6(1, 2), RB6: v6(2, 1), B6: v6(2, 2),
		ns:    [3]vns.NsHandle{vns.None(), vns.None(), vns.None()},
		lease: lease,
	}, nil
}

// Name is node's name under /run/netns.
func (c *Chain) Name(n Node) string {
	switch n {
	case NodeA:
		return c.NameA
	case NodeR:
		return c.NameR
	case NodeB:
		return c.NameB
	}
	return n.String()
}

// Do runs fn inside node's namespace on a locked OS thread and waits for
// it, as Pair.Do.
func (c *Chain) Do(n Node, fn func() error) error {
	if !n.valid() {
		return fmt.Errorf("testnet: invalid node %v", n)
	}
	return netns.Do(netns.Named(c.Name(n)), fn)
}

// Nstat returns the SNMP counters of node's namespace, as Nstat does for a
// Pair.
func (c *Chain) Nstat(n Node) (map[string]uint64, error) {
	var counters map[string]uint64
	err := c.Do(n, func() (err error) {
		counters, err = readCounters()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testnet: counters of %s: %w", c.Name(n), err)
	}
	return counters, nil
}

func (c *Chain) setup() error {
	for n := NodeA; n <= NodeB; n++ {
		name := c.Name(n)
		var err error
		if c.ns[n], err = netns.CreateNamed(name); err != nil {
			return err
		}
		if err := c.Do(n, writeSysctls); err != nil {
			return fmt.Errorf("netns %s: %w", name, err)
		}
	}
	var h [3]*netlink.Handle
	defer func() {
		for _, hh := range h {
			if hh != nil {
				hh.Close()
			}
		}
	}()
	for n := NodeA; n <= NodeB; n++ {
		var err error
		if h[n], err = netlink.NewHandleAt(c.ns[n]); err != nil {
			return fmt.Errorf("netlink handle in %s: %w", c.Name(n), err)
		}
	}
	a := &end{h: h[NodeA], ns: c.NameA, ifname: c.IfA, v4: c.A4, v6: c.A6}
	ra := &end{h: h[NodeR], ns: c.NameR, ifname: c.IfRA, v4: c.RA4, v6: c.RA6}
	rb := &end{h: h[NodeR], ns: c.NameR, ifname: c.IfRB, v4: c.RB4, v6: c.RB6}
	b := &end{h: h[NodeB], ns: c.NameB, ifname: c.IfB, v4: c.B4, v6: c.B6}
	if err := c.link(a, ra, NodeR, 10); err != nil {
		return err
	}
	if err := c.link(rb, b, NodeB, 11); err != nil {
		return err
	}
	if err := c.Do(NodeR, func() error { return setSysctls(routerSysctls) }); err != nil {
		return fmt.Errorf("netns %s: %w", c.NameR, err)
	}
	// Each end routes the far subnet through its side of R.
	for _, r := range []struct{ e, via, far *end }{{a, ra, b}, {b, rb, a}} {
		for _, dst := range []struct{ far, via netip.Addr }{{r.far.v4, r.via.v4}, {r.far.v6, r.via.v6}} {
			bits := 24
			if dst.far.Is6() {
				bits = 64
			}
			route := &netlink.Route{
				LinkIndex: r.e.link.Attrs().Index,
				Dst:       ipNet(netip.PrefixFrom(dst.far, bits).Masked().Addr(), bits),
				Gw:        dst.via.AsSlice(),
			}
			if err := r.e.h.RouteAdd(route); err != nil {
				return fmt.Errorf("netns %s: route %s via %s: %w", r.e.ns, route.Dst, dst.via, err)
			}
		}
	}
	for _, e := range []*end{a, ra, rb, b} {
		if err := waitReady(e); err != nil {
			return err
		}
	}
	for n, ino := range []*uint32{&c.InodeA, &c.InodeR, &c.InodeB} {
		var err error
		if *ino, err = netns.Inode(netns.Named(c.Name(Node(n)))); err != nil {
			return err
		}
	}
	return nil
}

// link makes the veth pair x—y with x in its namespace and y created
// directly in node yNode, configures both ends, and turns multicast off on
// R's ends (see routerSysctls).
//
// x gets ifindex xIndex, which differs from what y gets (the first free
// index of its namespace, 2 or 3). Left to itself each end of a veth
// between fresh namespaces gets index 2, and a link whose index equals
// its peer's looks like a plain device to the kernel's linkwatch, whose
// events for such links are batched at most once a second: one link made
// delays the activation of every other link made in the next second,
// anywhere on the host (see waitReady). With distinct indexes the events
// are urgent and handled at once.
func (c *Chain) link(x, y *end, yNode Node, xIndex int) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: x.ifname, Index: xIndex},
		PeerName:      y.ifname,
		PeerNamespace: netlink.NsFd(c.ns[yNode]),
	}
	if err := x.h.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s/%s: %w", x.ifname, y.ifname, err)
	}
	for _, e := range []*end{x, y} {
		var err error
		if e.link, err = e.h.LinkByName(e.ifname); err != nil {
			return fmt.Errorf("netns %s: find %s: %w", e.ns, e.ifname, err)
		}
		if e.ns == c.NameR {
			if err := e.h.LinkSetMulticastOff(e.link); err != nil {
				return fmt.Errorf("netns %s: %s multicast off: %w", e.ns, e.ifname, err)
			}
		}
	}
	if err := x.configure(y); err != nil {
		return err
	}
	return y.configure(x)
}

// readyTimeout bounds the wait for a new link to carry packets.
const readyTimeout = 2 * time.Second

// waitReady waits until e's link can carry packets both ways:
// operationally up, its qdisc attached, its addresses installed as local
// routes. A new link is not usable the moment it is up: until the
// kernel's linkwatch work has run it has the noop qdisc, which drops
// everything sent (tx_dropped), and only after that work does IPv6 finish
// setting up its addresses (even without DAD; until then packets to them
// count as Ip6.InAddrErrors). Linkwatch is rate-limited: when links were
// made back to back it lagged enough to lose a test's first packets.
// (internal/faults.WaitLinkReady is the same check for links it did not
// make.)
func waitReady(e *end) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		why, err := LinkNotReady(e.h, e.ifname)
		if err != nil {
			return fmt.Errorf("netns %s: %s: %w", e.ns, e.ifname, err)
		}
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netns %s: %s not ready after %v: %s", e.ns, e.ifname, readyTimeout, why)
		}
		time.Sleep(time.Millisecond)
	}
}

// LinkNotReady says why a link cannot carry packets yet, "" if it can.
func LinkNotReady(h *netlink.Handle, ifname string) (string, error) {
	l, err := h.LinkByName(ifname)
	if err != nil {
		return "", err
	}
	if s := l.Attrs().OperState; s != netlink.OperUp {
		return "operstate " + s.String(), nil
	}
	qs, err := h.QdiscList(l)
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		return "qdiscs changed while listed", nil
	}
	if err != nil {
		return "", fmt.Errorf("list qdiscs: %w", err)
	}
	qdisc := "none"
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			qdisc = q.Type()
		}
	}
	if qdisc == "none" || qdisc == "noop" {
		return "qdisc " + qdisc, nil
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		// The kernel changed them during the dump (NLM_F_DUMP_INTR, seen
		// on 5.10 while IPv6 set its addresses up): not settled yet.
		return "addresses changed while listed", nil
	}
	if err != nil {
		return "", fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			continue
		}
		if a.Flags&unix.IFA_F_TENTATIVE != 0 {
			return fmt.Sprintf("address %s tentative", a.IP), nil
		}
		routes, err := h.RouteGet(a.IP)
		if err != nil || len(routes) == 0 || routes[0].Type != unix.RTN_LOCAL {
			return fmt.Sprintf("address %s has no local route", a.IP), nil
		}
	}
	return "", nil
}

// close deletes the namespaces; the veths go with them.
func (c *Chain) close() error {
	defer c.lease.release()
	var errs []error
	for n := NodeA; n <= NodeB; n++ {
		if !c.ns[n].IsOpen() {
			continue
		}
		if err := c.ns[n].Close(); err != nil {
			errs = append(errs, fmt.Errorf("close netns %s: %w", c.Name(n), err))
		}
		c.ns[n] = vns.None()
		if err := netns.DeleteNamed(c.Name(n)); err != nil {
			errs = append(errs, fmt.Errorf("delete netns %s: %w", c.Name(n), err))
		}
	}
	return errors.Join(errs...)
}
