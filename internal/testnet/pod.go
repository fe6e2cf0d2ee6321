package testnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"time"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"

	"github.com/dropspot/dropspot/internal/netns"
)

// Pod is a namespace made the way a container runtime makes one: by a
// process that unshares its network namespace (`unshare --net`), with no
// name under /run/netns. A veth pair joins it to a Chain's node A, which
// routes it and masquerades it out of its link to R, as a node does for
// its pods: B sees the pod's connections come from A's address.
type Pod struct {
	Path   string // the nsfs file of the process holding the namespace
	Inode  uint32
	If     string     // the pod's end of the veth
	IfA    string     // A's end
	V4, V6 netip.Addr // the pod's addresses; A's end has .1 / ::1 of the same subnets

	proc  *exec.Cmd
	lease *subnetLease // V4's /24, held until close
}

// podNAT is A's masquerade of the pod's connections out of its link to R.
const podNAT = `table inet dspod {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname %q masquerade
	}
}
`

// NewPod makes a Pod behind c's node A and registers its removal with
// t.Cleanup (before the chain's: the process holding the namespace ends,
// and the veth goes with it).
func NewPod(t T, c *Chain) *Pod {
	t.Helper()
	p, err := newPodConfig(c)
	if err != nil {
		t.Fatalf("testnet: NewPod behind %s: %v", c.NameA, err)
	}
	t.Cleanup(func() {
		if err := p.close(); err != nil {
			t.Errorf("testnet: cleanup of pod %s: %v", p.If, err)
		}
	})
	if err := p.setup(c); err != nil {
		t.Fatalf("testnet: NewPod behind %s: %v", c.NameA, err)
	}
	return p
}

// newPodConfig picks names and addresses: a /24 of 198.18.0.0/15 of its
// own (leased until close, subnet.go; so not the chain's two, which A's
// routing must tell apart), and subnet 3 of the chain's 2001:db8:x::/48.
func newPodConfig(c *Chain) (*Pod, error) {
	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	lease, err := leaseSubnets(1)
	if err != nil {
		return nil, err
	}
	v6 := c.A6.As16()
	v6[7], v6[15] = 3, 2
	return &Pod{
		If: "dpp" + suffix, IfA: "dpa" + suffix,
		V4:    lease.addr(0, 2),
		V6:    netip.AddrFrom16(v6),
		lease: lease,
	}, nil
}

// gateway is A's address on the pod's subnet of addr.
func gateway(addr netip.Addr) netip.Addr {
	b := addr.As16()
	b[15] = 1
	return netip.AddrFrom16(b).Unmap()
}

// Do runs fn inside the pod's namespace on a locked OS thread, as
// Chain.Do.
func (p *Pod) Do(fn func() error) error { return netns.Do(p.Path, fn) }

func (p *Pod) setup(c *Chain) error {
	// What holds the namespace: a process, as a container's init does.
	p.proc = exec.Command("unshare", "--net", "--", "sleep", "600")
	if err := p.proc.Start(); err != nil {
		return fmt.Errorf("unshare --net: %w", err)
	}
	p.Path = fmt.Sprintf("/proc/%d/ns/net", p.proc.Process.Pid)
	if err := p.waitUnshared(); err != nil {
		return err
	}
	podNs, err := vns.GetFromPath(p.Path)
	if err != nil {
		return fmt.Errorf("open %s: %w", p.Path, err)
	}
	defer podNs.Close()
	hp, err := netlink.NewHandleAt(podNs)
	if err != nil {
		return fmt.Errorf("netlink handle in the pod: %w", err)
	}
	defer hp.Close()
	ha, err := netlink.NewHandleAt(c.ns[NodeA])
	if err != nil {
		return fmt.Errorf("netlink handle in %s: %w", c.NameA, err)
	}
	defer ha.Close()

	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: p.IfA, Index: 12}, // distinct from its peer's: see Chain.link
		PeerName:      p.If,
		PeerNamespace: netlink.NsFd(podNs),
	}
	if err := ha.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s/%s: %w", p.IfA, p.If, err)
	}
	a := &end{h: ha, ns: c.NameA, ifname: p.IfA, v4: gateway(p.V4), v6: gateway(p.V6)}
	pod := &end{h: hp, ns: p.Path, ifname: p.If, v4: p.V4, v6: p.V6}
	for _, e := range []*end{a, pod} {
		if e.link, err = e.h.LinkByName(e.ifname); err != nil {
			return fmt.Errorf("netns %s: find %s: %w", e.ns, e.ifname, err)
		}
	}
	// A becomes a router: its links carry no multicast first, so it
	// joins no all-routers groups (see routerSysctls).
	chainLink, err := ha.LinkByName(c.IfA)
	if err != nil {
		return fmt.Errorf("netns %s: find %s: %w", c.NameA, c.IfA, err)
	}
	for _, l := range []netlink.Link{a.link, chainLink} {
		if err := ha.LinkSetMulticastOff(l); err != nil {
			return fmt.Errorf("netns %s: %s multicast off: %w", c.NameA, l.Attrs().Name, err)
		}
	}
	if err := a.configure(pod); err != nil {
		return err
	}
	if err := pod.configure(a); err != nil {
		return err
	}
	if err := c.Do(NodeA, func() error { return setSysctls(routerSysctls) }); err != nil {
		return fmt.Errorf("netns %s: %w", c.NameA, err)
	}
	for _, gw := range []netip.Addr{a.v4, a.v6} {
		route := &netlink.Route{LinkIndex: pod.link.Attrs().Index, Dst: ipNet(netip.IPv6Unspecified(), 0), Gw: gw.AsSlice()}
		if gw.Is4() {
			route.Dst = ipNet(netip.IPv4Unspecified(), 0)
		}
		if err := hp.RouteAdd(route); err != nil {
			return fmt.Errorf("pod: default route via %s: %w", gw, err)
		}
	}
	if err := Nft(c.NameA, fmt.Sprintf(podNAT, c.IfA)); err != nil {
		return err
	}
	for _, e := range []*end{a, pod} {
		if err := waitReady(e); err != nil {
			return err
		}
	}
	p.Inode, err = netns.Inode(p.Path)
	return err
}

// waitUnshared waits until the process is in its own namespace: unshare
// runs in the caller's namespace until it has called unshare(2).
func (p *Pod) waitUnshared() error {
	own, err := netns.Inode(netns.Self)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ino, err := netns.Inode(p.Path)
		if err == nil && ino != own {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.Join(errors.New("unshare --net: the process did not leave our namespace in 5 s"), err)
		}
		time.Sleep(time.Millisecond)
	}
}

// close ends the process holding the namespace; the namespace and the
// veth go with it.
func (p *Pod) close() error {
	defer p.lease.release()
	if p.proc == nil || p.proc.Process == nil {
		return nil
	}
	if err := p.proc.Process.Kill(); err != nil {
		return fmt.Errorf("end the pod's process: %w", err)
	}
	p.proc.Wait() // killed: the error says so
	return nil
}
