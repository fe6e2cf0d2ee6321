package faults

import (
	"fmt"
	"slices"
)

// Counters follows some SNMP counters of one namespace from a baseline
// taken when it was made: the ground truth of faults whose only trace is
// the kernel's own bookkeeping. The counters are per namespace, so they
// count every packet of the namespace that ends that way, not only the
// fault's: keep other traffic out of it.
type Counters struct {
	ns    Netns
	names []string
	base  map[string]uint64
}

// WatchCounters starts following names ("Udp.NoPorts", ...) in ns. A name
// this kernel does not have is an error, not a silent zero.
func WatchCounters(ns Netns, names ...string) (*Counters, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("faults: no counters to watch in %v", ns)
	}
	c := &Counters{ns: ns, names: slices.Clone(names)}
	base, err := c.read()
	if err != nil {
		return nil, err
	}
	c.base = base
	return c, nil
}

// The counters that tell each kind of drop, by the namespace that drops.

// WatchNoPorts follows UDP datagrams to ports nobody listens on
// (NO_SOCKET; each is answered with an ICMP port unreachable).
func WatchNoPorts(ns Netns) (*Counters, error) {
	return WatchCounters(ns, "Udp.NoPorts", "Udp6.NoPorts")
}

// WatchResets follows TCP resets sent: a SYN to a closed port is
// answered with one (the SYN itself is dropped as NO_SOCKET). Any other
// reset the namespace sends counts too.
func WatchResets(ns Netns) (*Counters, error) {
	return WatchCounters(ns, "Tcp.OutRsts")
}

// WatchRcvbufErrors follows UDP datagrams dropped because the receiving
// socket's buffer was full (SOCKET_RCVBUFF).
func WatchRcvbufErrors(ns Netns) (*Counters, error) {
	return WatchCounters(ns, "Udp.RcvbufErrors", "Udp6.RcvbufErrors")
}

// WatchChecksumErrors follows packets dropped for a bad IPv4 header, UDP or
// TCP checksum (IP_CSUM, UDP_CSUM, TCP_CSUM). Tcp counts IPv6 too.
func WatchChecksumErrors(ns Netns) (*Counters, error) {
	return WatchCounters(ns, "IpExt.InCsumErrors", "Udp.InCsumErrors", "Udp6.InCsumErrors", "Tcp.InCsumErrors")
}

// WatchHeaderErrors follows packets dropped for their IP header (IP_INHDR),
// e.g. by a router because their TTL or hop limit ran out.
func WatchHeaderErrors(ns Netns) (*Counters, error) {
	return WatchCounters(ns, "Ip.InHdrErrors", "Ip6.InHdrErrors")
}

func (c *Counters) read() (map[string]uint64, error) {
	all, err := SNMP(c.ns)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(c.names))
	for _, name := range c.names {
		v, ok := all[name]
		if !ok {
			return nil, fmt.Errorf("faults: %v has no counter %s", c.ns, name)
		}
		out[name] = v
	}
	return out, nil
}

// Delta is how much each counter grew since the baseline.
func (c *Counters) Delta() (map[string]uint64, error) {
	now, err := c.read()
	if err != nil {
		return nil, err
	}
	for name, v := range now {
		now[name] = v - c.base[name]
	}
	return now, nil
}

// Dropped is the sum of Delta: the packets dropped since the baseline.
func (c *Counters) Dropped() (uint64, error) {
	d, err := c.Delta()
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, v := range d {
		sum += v
	}
	return sum, nil
}

// Close does nothing: counters hold no resources. It makes Counters a
// fault like the others.
func (c *Counters) Close() error { return nil }
