package faults

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	ethPIP   = 0x0800
	ethPIPv6 = 0x86dd
	// maxInject bounds the copies one Send writes.
	maxInject = 100000
)

// Injector writes hand-built packets straight onto an interface with an
// AF_PACKET socket, below IP: the kernel adds only the Ethernet header and
// checks nothing. On a veth they arrive at the peer as CHECKSUM_NONE, so
// the receiver verifies every checksum in software, as it would for a
// NIC without offload.
type Injector struct {
	ns      Netns
	ifname  string
	ifindex int
	fd      int
	h       *netlink.Handle
}

// NewInjector opens an injector on ifname in ns.
func NewInjector(ns Netns, ifname string) (*Injector, error) {
	in := &Injector{ns: ns, ifname: ifname, fd: -1}
	err := ns.Do(func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		in.ifindex = ifc.Index
		// Protocol 0: the socket only sends, it receives nothing.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		in.fd = fd
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		in.h = h
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("faults: injector on %s in %v: %w", ifname, ns, err), in.Close())
	}
	return in, nil
}

// Send writes n copies of p; copies of a Fragment are numbered
// Fragment, Fragment+1, ..., each a datagram of its own. The Ethernet
// destination is the neighbour entry of p's destination on the interface,
// so the receiver takes the frame as addressed to it (not
// PACKET_OTHERHOST, which IP drops first).
func (in *Injector) Send(p Packet, n int) error {
	if n < 1 || n > maxInject {
		return fmt.Errorf("faults: inject %d packets: want 1..%d", n, maxInject)
	}
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	mac, err := in.nextHop(p.Dst.Addr().Unmap())
	if err != nil {
		return err
	}
	proto := uint16(ethPIP)
	if !p.Dst.Addr().Unmap().Is4() {
		proto = ethPIPv6
	}
	sa := in.linkAddr(proto, mac)
	for i := range n {
		if p.Fragment != 0 && i > 0 {
			p.Fragment++
			if b, err = p.Marshal(); err != nil {
				return err
			}
		}
		if err := unix.Sendto(in.fd, b, 0, sa); err != nil {
			return fmt.Errorf("faults: inject %d of %d onto %s: %w", i+1, n, in.ifname, err)
		}
	}
	return nil
}

// SendFrames writes n copies of an Ethernet frame of the given EtherType
// and payload to the link's broadcast address: frames that are not IP
// (the receiver has no handler for an unknown EtherType and drops them),
// or that claim to be IP and are not (its IP receive drops them).
func (in *Injector) SendFrames(etherType uint16, payload []byte, n int) error {
	if n < 1 || n > maxInject {
		return fmt.Errorf("faults: inject %d frames: want 1..%d", n, maxInject)
	}
	sa := in.linkAddr(etherType, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	for i := range n {
		if err := unix.Sendto(in.fd, payload, 0, sa); err != nil {
			return fmt.Errorf("faults: inject frame %d of %d onto %s: %w", i+1, n, in.ifname, err)
		}
	}
	return nil
}

// linkAddr is where the socket sends a frame of an EtherType to.
func (in *Injector) linkAddr(etherType uint16, mac net.HardwareAddr) *unix.SockaddrLinklayer {
	sa := &unix.SockaddrLinklayer{Protocol: htons(etherType), Ifindex: in.ifindex, Halen: uint8(len(mac))}
	copy(sa.Addr[:], mac)
	return sa
}

// nextHop finds the link address of the first hop towards dst: dst
// itself when on-link, else the gateway of the namespace's route to it.
func (in *Injector) nextHop(dst netip.Addr) (net.HardwareAddr, error) {
	hop := dst
	if routes, err := in.h.RouteGet(dst.AsSlice()); err == nil && len(routes) > 0 && routes[0].Gw != nil {
		if gw, ok := netip.AddrFromSlice(routes[0].Gw); ok {
			hop = gw.Unmap()
		}
	}
	family := netlink.FAMILY_V4
	if !hop.Is4() {
		family = netlink.FAMILY_V6
	}
	neighs, err := in.h.NeighList(in.ifindex, family)
	if err != nil {
		return nil, fmt.Errorf("faults: neighbours of %s in %v: %w", in.ifname, in.ns, err)
	}
	for _, n := range neighs {
		a, ok := netip.AddrFromSlice(n.IP)
		if ok && a.Unmap() == hop && len(n.HardwareAddr) > 0 && n.State&(netlink.NUD_PERMANENT|netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_NOARP) != 0 {
			return n.HardwareAddr, nil
		}
	}
	return nil, fmt.Errorf("faults: no neighbour entry for %s (next hop to %s) on %s in %v", hop, dst, in.ifname, in.ns)
}

// Close closes the socket.
func (in *Injector) Close() error {
	var err error
	if in.fd >= 0 {
		err = unix.Close(in.fd)
		in.fd = -1
	}
	if in.h != nil {
		in.h.Close()
		in.h = nil
	}
	return err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
