package faults

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf/link"

	"github.com/dropspot/dropspot/internal/bpf"
)

// XDPDrop is an XDP program on one interface dropping TCP and/or UDP
// packets to one port, IPv4 and IPv6, counting what it dropped. The kernel
// gives such drops no reason (NOT_SPECIFIED): they are freed in
// veth_xdp_rcv_skb (native XDP on a veth) or do_xdp_generic, and only the
// location tells them apart, which is what dropspot must do.
type XDPDrop struct {
	d *dropper
}

// DropXDP attaches the program to ifname in ns, in the driver's native
// mode where it has one, else generic.
func DropXDP(ns Netns, ifname string, protos Proto, port uint16) (*XDPDrop, error) {
	d, err := loadDropper(bpf.FaultsProgFaultXdpDrop, protos, port, 0)
	if err != nil {
		return nil, fmt.Errorf("faults: xdp drop for %v port %d: %w", protos, port, err)
	}
	err = ns.Do(func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		l, err := link.AttachXDP(link.XDPOptions{Interface: ifc.Index, Program: d.prog})
		if err != nil {
			return fmt.Errorf("attach xdp to %s: %w", ifname, err)
		}
		d.links = append(d.links, l)
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("faults: xdp drop for %v port %d on %s in %v: %w", protos, port, ifname, ns, err), d.close())
	}
	return &XDPDrop{d: d}, nil
}

// Dropped is how many packets the program has dropped.
func (f *XDPDrop) Dropped() (uint64, error) { return f.d.dropped() }

// Close removes the program.
func (f *XDPDrop) Close() error { return f.d.close() }
