package faults

import (
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
)

// ShapeConfig is a token bucket: what an egress rate limit on a link
// looks like.
type ShapeConfig struct {
	Rate  uint64 // bytes per second once the burst is spent
	Burst uint32 // bytes sent at line rate first; at least the MTU plus the link header
	Limit uint32 // bytes queued waiting for tokens; packets beyond are dropped
}

// Shaper is a tbf qdisc at the root of an interface. A burst larger than
// Burst + Limit overflows it: the kernel drops the excess as QDISC_DROP
// in __dev_queue_xmit, and the sending socket is not told (UDP counts
// Udp.SndbufErrors at most). The ground truth is the qdisc's own drop
// counter.
type Shaper struct {
	h       *netlink.Handle // a netlink socket inside the namespace
	ifindex int
	qdisc   *netlink.Tbf
	ns      Netns
	ifname  string
}

// QdiscStats is the part of a qdisc's statistics faults care about.
type QdiscStats struct {
	Sent    uint64 // packets handed to the device
	Drops   uint64 // packets dropped on enqueue
	Qlen    uint32 // packets waiting now
	Backlog uint32 // bytes waiting now
}

// shaperHandle is the qdisc's handle, 1:0 as `tc qdisc add ... root
// handle 1:` would make it.
var shaperHandle = netlink.MakeHandle(1, 0)

// Shape puts a tbf qdisc at the root of ifname in ns, replacing the
// device's default (noqueue on veth). It fails if the interface already
// has a root qdisc of its own.
func Shape(ns Netns, ifname string, cfg ShapeConfig) (*Shaper, error) {
	if cfg.Rate == 0 || cfg.Burst == 0 || cfg.Limit == 0 {
		return nil, fmt.Errorf("faults: shaper on %s: rate, burst and limit must all be set: %+v", ifname, cfg)
	}
	s := &Shaper{ns: ns, ifname: ifname}
	err := ns.Do(func() error {
		// The handle's socket is made here, so it speaks to ns.
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		s.h = h
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("faults: netlink in %v: %w", ns, err)
	}
	l, err := s.h.LinkByName(ifname)
	if err != nil {
		s.h.Close()
		return nil, fmt.Errorf("faults: shaper: %s in %v: %w", ifname, ns, err)
	}
	s.ifindex = l.Attrs().Index
	s.qdisc = &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: s.ifindex, Handle: shaperHandle, Parent: netlink.HANDLE_ROOT},
		Rate:       cfg.Rate,
		Limit:      cfg.Limit,
		// tbf takes the bucket size as the time it takes to send it.
		Buffer: netlink.Xmittime(cfg.Rate, cfg.Burst),
	}
	if err := s.h.QdiscAdd(s.qdisc); err != nil {
		s.h.Close()
		return nil, fmt.Errorf("faults: add tbf qdisc to %s in %v: %w", ifname, ns, err)
	}
	return s, nil
}

// Stats reads the qdisc's counters.
func (s *Shaper) Stats() (QdiscStats, error) {
	qs, err := s.h.QdiscList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: s.ifindex}})
	if err != nil {
		return QdiscStats{}, fmt.Errorf("faults: list qdiscs of %s in %v: %w", s.ifname, s.ns, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Handle != shaperHandle || a.Parent != netlink.HANDLE_ROOT || q.Type() != "tbf" {
			continue
		}
		if a.Statistics == nil || a.Statistics.Basic == nil || a.Statistics.Queue == nil {
			return QdiscStats{}, fmt.Errorf("faults: tbf on %s in %v: no statistics", s.ifname, s.ns)
		}
		return QdiscStats{
			Sent:    uint64(a.Statistics.Basic.Packets),
			Drops:   uint64(a.Statistics.Queue.Drops),
			Qlen:    a.Statistics.Queue.Qlen,
			Backlog: a.Statistics.Queue.Backlog,
		}, nil
	}
	return QdiscStats{}, fmt.Errorf("faults: tbf on %s in %v is gone", s.ifname, s.ns)
}

// Dropped is how many packets the qdisc has dropped.
func (s *Shaper) Dropped() (uint64, error) {
	st, err := s.Stats()
	return st.Drops, err
}

// WaitEmpty waits until the queue has drained, at most timeout. Packets
// still queued when the qdisc is deleted are freed as drops, so wait
// before Close when counting drops.
func (s *Shaper) WaitEmpty(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.Stats()
		if err != nil {
			return err
		}
		if st.Qlen == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("faults: tbf on %s in %v: %d packets still queued after %v", s.ifname, s.ns, st.Qlen, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close deletes the qdisc; the device gets its default back.
func (s *Shaper) Close() error {
	if s.h == nil {
		return nil
	}
	err := s.h.QdiscDel(s.qdisc)
	if err != nil {
		err = fmt.Errorf("faults: delete tbf on %s in %v: %w", s.ifname, s.ns, err)
	}
	s.h.Close()
	s.h = nil
	return err
}
