package faults

import (
	"fmt"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/dropspot/dropspot/internal/testnet"
)

// WaitLinkReady waits, at most timeout, until ifname in ns can carry
// packets both ways: operationally up, its transmit qdisc attached, and
// each of its (non link-local) addresses installed as a local route. Call
// it for both ends of a new link before sending anything.
//
// A new link is not usable the moment it is up. Until the kernel's
// linkwatch work has run, its qdisc is noop, which drops everything sent
// (tx_dropped); that work is rate-limited and lagged enough to drop a
// test's first packets when links were made back to back. Only after it,
// a further work item finishes IPv6 address setup (even without DAD) and
// installs the local route; until then packets to the address are
// dropped as Ip6.InAddrErrors.
func WaitLinkReady(ns Netns, ifname string, timeout time.Duration) error {
	var h *netlink.Handle
	err := ns.Do(func() error {
		var err error
		h, err = netlink.NewHandle()
		return err
	})
	if err != nil {
		return fmt.Errorf("faults: netlink in %v: %w", ns, err)
	}
	defer h.Close()
	deadline := time.Now().Add(timeout)
	for {
		why, err := testnet.LinkNotReady(h, ifname)
		if err != nil {
			return fmt.Errorf("faults: %s in %v: %w", ifname, ns, err)
		}
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("faults: %s in %v not ready after %v: %s", ifname, ns, timeout, why)
		}
		time.Sleep(time.Millisecond)
	}
}
