package faults

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/dropspot/dropspot/internal/bpf"
)

// IngressDrop is a tc ingress filter on one interface dropping TCP and/or
// UDP packets to one port, IPv4 and IPv6: a tcx program returning
// TC_ACT_SHOT, counting what it dropped. It stands in for `tc filter ...
// action drop`, which needs gact (absent from some kernels, and a tc
// binary). The kernel reports these drops as TC_INGRESS, in
// __netif_receive_skb_core.
type IngressDrop struct {
	d *dropper
}

// DropIngress attaches the filter to ifname in ns (the ifindex means
// something only inside ns, hence the attach there). tcx programs chain,
// so other tc programs on the interface keep working; packets the filter
// does not drop go on to them.
func DropIngress(ns Netns, ifname string, protos Proto, port uint16) (*IngressDrop, error) {
	d, err := loadDropper(bpf.FaultsProgFaultTcDrop, protos, port, 0)
	if err != nil {
		return nil, fmt.Errorf("faults: tc drop for %v port %d: %w", protos, port, err)
	}
	err = ns.Do(func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: d.prog, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			return fmt.Errorf("attach tcx ingress to %s: %w", ifname, err)
		}
		d.links = append(d.links, l)
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("faults: tc drop for %v port %d on %s in %v: %w", protos, port, ifname, ns, err), d.close())
	}
	return &IngressDrop{d: d}, nil
}

// Dropped is how many packets the filter has dropped (wire packets).
func (f *IngressDrop) Dropped() (uint64, error) { return f.d.dropped() }

// Close removes the filter.
func (f *IngressDrop) Close() error { return f.d.close() }
