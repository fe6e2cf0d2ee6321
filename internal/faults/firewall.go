package faults

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/link"
	"github.com/dropspot/dropspot/internal/bpf"
)

// firewallPriority is where the rule sits in its hook: 0 is the filter
// table's priority (NF_IP_PRI_FILTER), so the rule runs where a host
// firewall's would, after anything at negative priorities (dropspot's
// ip.local_in and ip.forward hooks) and before anything at positive ones
// (its l4.rcv).
const firewallPriority = 0

// PortFirewall is a host firewall rule denying TCP and/or UDP packets to one
// port, IPv4 and IPv6: a netfilter BPF program on LOCAL_IN or FORWARD in one
// namespace that returns NF_DROP and counts what it dropped. The kernel
// reports these drops as NETFILTER_DROP at nf_hook_slow.
type PortFirewall struct {
	d *dropper
}

// DropPort adds the rule in ns. Netfilter BPF links belong to the
// namespace of the thread that makes them, hence the attach inside ns.
// It fails with EBUSY if another BPF link holds priority 0 of LOCAL_IN
// there (one link per hook and priority).
func DropPort(ns Netns, protos Proto, port uint16) (*PortFirewall, error) {
	return dropAt(ns, link.NetfilterInetLocalIn, protos, port, 0)
}

// DropForwardedPort is DropPort in the FORWARD hook: a firewall denying
// the port to the hosts behind ns, routed or, with br_netfilter, bridged.
func DropForwardedPort(ns Netns, protos Proto, port uint16) (*PortFirewall, error) {
	return dropAt(ns, link.NetfilterInetForward, protos, port, 0)
}

// DropForwardedEvery is DropForwardedPort for every every-th data packet
// only (longer than 100 bytes: TCP segments with data, not bare ACKs), as
// nft's `numgen inc mod every 0` would: loss TCP recovers from.
func DropForwardedEvery(ns Netns, protos Proto, port uint16, every uint32) (*PortFirewall, error) {
	return dropAt(ns, link.NetfilterInetForward, protos, port, every)
}

func dropAt(ns Netns, hook link.NetfilterInetHook, protos Proto, port uint16, every uint32) (*PortFirewall, error) {
	d, err := loadDropper(bpf.FaultsProgFaultNfDrop, protos, port, every)
	if err != nil {
		return nil, fmt.Errorf("faults: firewall for %v port %d: %w", protos, port, err)
	}
	err = ns.Do(func() error {
		for _, pf := range []link.NetfilterProtocolFamily{link.NetfilterProtoIPv4, link.NetfilterProtoIPv6} {
			l, err := link.AttachNetfilter(link.NetfilterOptions{
				Program:        d.prog,
				ProtocolFamily: pf,
				Hook:           hook,
				Priority:       firewallPriority,
			})
			if err != nil {
				return fmt.Errorf("attach to netfilter hook %d (family %d): %w", hook, pf, err)
			}
			d.links = append(d.links, l)
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("faults: firewall for %v port %d in %v: %w", protos, port, ns, err), d.close())
	}
	return &PortFirewall{d: d}, nil
}

// Dropped is how many packets the rule has dropped (wire packets: a GRO
// super-packet counts its segments, as dropspot does).
func (f *PortFirewall) Dropped() (uint64, error) { return f.d.dropped() }

// Close removes the rule.
func (f *PortFirewall) Close() error { return f.d.close() }
