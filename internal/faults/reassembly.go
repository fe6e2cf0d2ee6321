package faults

import (
	"errors"
	"fmt"
	"strconv"
)

// Reassembly is a namespace that gives up reassembling fragmented IP
// datagrams soon: the fragments of one that never completes are dropped
// when its timer fires, as FRAG_REASM_TIMEOUT (ip_expire,
// ip6_frag_expire, inet_frag_rbtree_purge) — in a timer, long after the
// fragments' own path. Its ground truth is Ip.ReasmTimeout and
// Ip6.ReasmTimeout: one per datagram, so send one fragment of each (an
// Injector sending a Packet with Fragment set) for a count of packets.
type Reassembly struct{ sysctlFault }

// ShortReassembly sets the reassembly timeout of ns to seconds (IPv4
// net.ipv4.ipfrag_time and IPv6 net.ipv6.ip6frag_time; the default is 30).
func ShortReassembly(ns Netns, seconds int) (*Reassembly, error) {
	if seconds < 1 || seconds > 30 {
		return nil, fmt.Errorf("faults: reassembly timeout %ds not in [1, 30]", seconds)
	}
	v := strconv.Itoa(seconds)
	f, err := newSysctlFault(ns, []sysctl{{"net/ipv4/ipfrag_time", v}, {"net/ipv6/ip6frag_time", v}},
		"Ip.ReasmTimeout", "Ip6.ReasmTimeout")
	if err != nil {
		return nil, err
	}
	return &Reassembly{f}, nil
}

// sysctlFault is a fault made of sysctl settings, with kernel counters
// for its ground truth.
type sysctlFault struct {
	ns  Netns
	old []sysctl
	*Counters
}

func newSysctlFault(ns Netns, settings []sysctl, counters ...string) (sysctlFault, error) {
	old, err := setSysctls(ns, settings)
	if err != nil {
		return sysctlFault{}, err
	}
	c, err := WatchCounters(ns, counters...)
	if err != nil {
		return sysctlFault{}, errors.Join(err, restoreSysctls(ns, old))
	}
	return sysctlFault{ns: ns, old: old, Counters: c}, nil
}

// Close puts the previous settings back.
func (f *sysctlFault) Close() error {
	err := restoreSysctls(f.ns, f.old)
	f.old = nil
	return err
}
