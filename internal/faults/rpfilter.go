package faults

import (
	"fmt"
	"path"
)

// RPFilter is strict reverse-path filtering (RFC 3704) on one interface:
// an IPv4 packet arriving there is dropped unless the route back to its
// source leaves through that same interface — what protects a host from
// spoofed sources, and what drops legitimate packets under asymmetric
// routing. The kernel reports IP_RPFILTER (in ip_rcv_finish_core) and counts
// TcpExt.IPReversePathFilter. IPv6 has no such sysctl.
type RPFilter struct{ sysctlFault }

// StrictRPFilter turns it on for ifname in ns. The kernel applies the
// larger of conf/all and conf/IFNAME, so a namespace whose conf/all is 2
// (loose) stays loose, which still drops sources with no route at all.
func StrictRPFilter(ns Netns, ifname string) (*RPFilter, error) {
	if ifname == "" || path.Base(ifname) != ifname || ifname == ".." {
		return nil, fmt.Errorf("faults: rp_filter: bad interface name %q", ifname)
	}
	f, err := newSysctlFault(ns, []sysctl{{"net/ipv4/conf/" + ifname + "/rp_filter", "1"}},
		"TcpExt.IPReversePathFilter")
	if err != nil {
		return nil, err
	}
	return &RPFilter{f}, nil
}
