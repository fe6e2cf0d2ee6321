package testnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"

	"github.com/dropspot/dropspot/internal/netns"
)

// Bridged is a Pair whose ends are joined through a Linux bridge instead
// of one veth: A —veth— [PortA · Bridge · PortB] —veth— B, the bridge in
// a third namespace R, everything on one subnet. A and B are the embedded
// Pair's, so its traffic generators send through the bridge unchanged;
// ToBridge is a Pair for traffic to the bridge's own addresses. Quiet like
// a Pair: NOARP ends and bridge with permanent neighbour entries, no IPv6
// on the ports (they are layer 2 only).
type Bridged struct {
	Pair
	NameR  string // under /run/netns
	InodeR uint32

	Bridge, PortA, PortB                string // devices in R
	BridgeIndex, PortAIndex, PortBIndex int
	R4, R6                              netip.Addr // the bridge's own addresses

	nsR vns.NsHandle
}

// NewBridged creates a Bridged and registers its deletion with t.Cleanup.
// brNetfilter sets bridge-nf-call-iptables and -ip6tables in R: whether
// br_netfilter runs the IP netfilter hooks over bridged frames. It fails
// the test if setup fails.
func NewBridged(t T, brNetfilter bool) *Bridged {
	t.Helper()
	b, err := newBridgedConfig()
	if err != nil {
		t.Fatalf("testnet: NewBridged: %v", err)
	}
	t.Cleanup(func() {
		if err := b.close(); err != nil {
			t.Errorf("testnet: cleanup of bridged %s/%s/%s: %v", b.NameA, b.NameR, b.NameB, err)
		}
	})
	if err := b.setup(brNetfilter); err != nil {
		t.Fatalf("testnet: NewBridged %s/%s/%s: %v", b.NameA, b.NameR, b.NameB, err)
	}
	return b
}

// newBridgedConfig picks names and addresses: the bridge is host 3 of the
// pair's subnets.
func newBridgedConfig() (*Bridged, error) {
	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	p, err := newPairConfig()
	if err != nil {
		return nil, err
	}
	p.NameA, p.NameB = "dbA-"+suffix, "dbB-"+suffix
	p.IfA, p.IfB = "dba"+suffix, "dbb"+suffix
	r4, r6 := p.A4.As4(), p.A6.As16()
	r4[3], r6[15] = 3, 3
	return &Bridged{
		Pair:  *p,
		NameR: "dbR-" + suffix, Bridge: "dbr" + suffix, PortA: "dbpa" + suffix, PortB: "dbpb" + suffix,
		R4: netip.AddrFrom4(r4), R6: netip.AddrFrom16(r6),
		nsR: vns.None(),
	}, nil
}

// ToBridge is a Pair of A and R whose B end is the bridge itself, for
// traffic the bridge delivers to its own stack. It shares the Bridged's
// namespaces: do not Close it.
func (b *Bridged) ToBridge() *Pair {
	p := b.Pair
	p.NameB, p.IfB, p.IfindexB, p.InodeB = b.NameR, b.Bridge, b.BridgeIndex, b.InodeR
	p.B4, p.B6 = b.R4, b.R6
	p.ns[B] = b.nsR
	p.lease = nil // the Bridged's
	return &p
}

// Close deletes the three namespaces (the embedded Pair's Close would
// leave R).
func (b *Bridged) Close() error { return b.close() }

// DoR runs fn inside R, as Pair.Do does for A and B.
func (b *Bridged) DoR(fn func() error) error { return netns.Do(netns.Named(b.NameR), fn) }

// nsRef is one of a Bridged's namespaces: its name, handle and inode.
type nsRef struct {
	name string
	h    *vns.NsHandle
	ino  *uint32
}

// namespaces lists A, R and B.
func (b *Bridged) namespaces() []nsRef {
	return []nsRef{{b.NameA, &b.ns[A], &b.InodeA}, {b.NameR, &b.nsR, &b.InodeR}, {b.NameB, &b.ns[B], &b.InodeB}}
}

// setBrNetfilter writes bridge-nf-call-iptables and -ip6tables in the
// thread's namespace. A kernel whose br_netfilter is a module not loaded
// has neither, and bridged frames meet no IP hook there anyway.
func setBrNetfilter(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	list := []sysctl{{"net/bridge/bridge-nf-call-iptables", v}, {"net/bridge/bridge-nf-call-ip6tables", v}}
	if _, err := os.Stat(filepath.Join("/proc/sys", list[0].key)); errors.Is(err, os.ErrNotExist) && !on {
		return nil
	}
	return setSysctls(list)
}

func (b *Bridged) setup(brNetfilter bool) error {
	var h [3]*netlink.Handle // A, R, B
	defer func() {
		for _, hh := range h {
			if hh != nil {
				hh.Close()
			}
		}
	}()
	for i, n := range b.namespaces() {
		var err error
		if *n.h, err = netns.CreateNamed(n.name); err != nil {
			return err
		}
		if err := netns.Do(netns.Named(n.name), writeSysctls); err != nil {
			return fmt.Errorf("netns %s: %w", n.name, err)
		}
		if h[i], err = netlink.NewHandleAt(*n.h); err != nil {
			return fmt.Errorf("netlink handle in %s: %w", n.name, err)
		}
	}
	if err := b.DoR(func() error { return setBrNetfilter(brNetfilter) }); err != nil {
		return fmt.Errorf("netns %s: %w", b.NameR, err)
	}
	hR := h[1]
	a := &end{h: h[0], ns: b.NameA, ifname: b.IfA, v4: b.A4, v6: b.A6}
	r := &end{h: hR, ns: b.NameR, ifname: b.Bridge, v4: b.R4, v6: b.R6}
	z := &end{h: h[2], ns: b.NameB, ifname: b.IfB, v4: b.B4, v6: b.B6}
	if err := b.link(hR, a, z); err != nil {
		return err
	}
	// The bridge took a port's MAC: its neighbours need the final one.
	var err error
	if r.link, err = hR.LinkByName(b.Bridge); err != nil {
		return fmt.Errorf("netns %s: find %s: %w", b.NameR, b.Bridge, err)
	}
	for _, e := range []struct{ e, peer, other *end }{{a, z, r}, {z, a, r}, {r, a, z}} {
		if err := e.e.configure(e.peer); err != nil {
			return err
		}
		if err := e.e.addNeighbours(e.other); err != nil {
			return err
		}
	}
	ports := []*end{{h: hR, ns: b.NameR, ifname: b.PortA}, {h: hR, ns: b.NameR, ifname: b.PortB}}
	for _, e := range append(ports, a, z, r) {
		if err := waitReady(e); err != nil {
			return err
		}
	}
	b.IfindexA, b.IfindexB = a.link.Attrs().Index, z.link.Attrs().Index
	for _, n := range b.namespaces() {
		if *n.ino, err = netns.Inode(netns.Named(n.name)); err != nil {
			return err
		}
	}
	return nil
}

// link makes the bridge in R and plugs A's and B's veths into it.
func (b *Bridged) link(hR *netlink.Handle, a, z *end) error {
	if err := hR.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.Bridge}}); err != nil {
		return fmt.Errorf("netns %s: add bridge %s: %w", b.NameR, b.Bridge, err)
	}
	br, err := hR.LinkByName(b.Bridge)
	if err != nil {
		return fmt.Errorf("netns %s: find %s: %w", b.NameR, b.Bridge, err)
	}
	b.BridgeIndex = br.Attrs().Index
	// Distinct ifindexes on the two sides of each veth: see Chain.link.
	if b.PortAIndex, err = b.plug(hR, a, b.PortA, 10); err != nil {
		return err
	}
	b.PortBIndex, err = b.plug(hR, z, b.PortB, 11)
	return err
}

// plug makes the veth from end e (ifindex index) to a new port of the
// bridge in R, without IPv6 (a port has no addresses of its own), finds
// e's link and returns the port's ifindex.
func (b *Bridged) plug(hR *netlink.Handle, e *end, port string, index int) (int, error) {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: e.ifname, Index: index},
		PeerName:      port,
		PeerNamespace: netlink.NsFd(b.nsR),
	}
	if err := e.h.LinkAdd(veth); err != nil {
		return 0, fmt.Errorf("add veth %s/%s: %w", e.ifname, port, err)
	}
	var err error
	if e.link, err = e.h.LinkByName(e.ifname); err != nil {
		return 0, fmt.Errorf("netns %s: find %s: %w", e.ns, e.ifname, err)
	}
	l, err := hR.LinkByName(port)
	if err != nil {
		return 0, fmt.Errorf("netns %s: find %s: %w", b.NameR, port, err)
	}
	noIPv6 := []sysctl{{"net/ipv6/conf/" + port + "/disable_ipv6", "1"}}
	if err := b.DoR(func() error { return setSysctls(noIPv6) }); err != nil {
		return 0, fmt.Errorf("netns %s: %w", b.NameR, err)
	}
	if err := hR.LinkSetMasterByIndex(l, b.BridgeIndex); err != nil {
		return 0, fmt.Errorf("netns %s: %s into %s: %w", b.NameR, port, b.Bridge, err)
	}
	if err := hR.LinkSetUp(l); err != nil {
		return 0, fmt.Errorf("netns %s: set %s up: %w", b.NameR, port, err)
	}
	return l.Attrs().Index, nil
}

// close deletes the three namespaces; the veths and the bridge go with
// them.
func (b *Bridged) close() error {
	defer b.lease.release()
	var errs []error
	for _, n := range b.namespaces() {
		if !n.h.IsOpen() {
			continue
		}
		if err := n.h.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close netns %s: %w", n.name, err))
		}
		*n.h = vns.None()
		if err := netns.DeleteNamed(n.name); err != nil {
			errs = append(errs, fmt.Errorf("delete netns %s: %w", n.name, err))
		}
	}
	return errors.Join(errs...)
}
