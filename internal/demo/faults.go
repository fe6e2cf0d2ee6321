package demo

import (
	"errors"
	"net/netip"
	"time"

	"github.com/dropspot/dropspot/internal/faults"
	"github.com/dropspot/dropspot/internal/testnet"
)

// env is the demo's little network: A sends, B receives.
type env struct {
	pair   *testnet.Pair
	a, b   faults.Netns
	closer []func() error
}

func (e *env) onClose(f func() error) { e.closer = append(e.closer, f) }

func (e *env) close() error {
	var errs []error
	for i := len(e.closer) - 1; i >= 0; i-- {
		errs = append(errs, e.closer[i]())
	}
	return errors.Join(errs...)
}

// fault is one thing broken on purpose, and how to recognise it.
type fault struct {
	name   string
	reason string // what dropspot must report
	stage  string // after which stage
	// prepare, if set, builds what must exist before tracing starts.
	prepare func(e *env) error
	// run builds the fault, sends its traffic, and returns where the drops
	// must show (namespace, destination port) and the ground truth count.
	run func(e *env) (where, error)
}

// where names the drops of a fault in the report: all flows of proto to
// dport in one namespace (translated ones only, if translated).
type where struct {
	netns      uint32
	proto      string
	dport      uint16
	truth      func() (uint64, error)
	what       string // what the ground truth is
	translated bool
}

func sendUDP(e *env, src netip.Addr, dst netip.AddrPort, n, payload int) error {
	_, err := faults.SendUDP(e.a, faults.UDPBurst{Src: src, Dst: dst, Count: n, Payload: payload})
	return err
}

var scenario = []fault{
	{name: "firewall rule dropping udp/5300 (IPv4 and IPv6)", reason: "NETFILTER_DROP", stage: "ip.local_in",
		run: func(e *env) (where, error) {
			fw, err := faults.DropPort(e.b, faults.UDP, 5300)
			if err != nil {
				return where{}, err
			}
			e.onClose(fw.Close)
			err = errors.Join(
				sendUDP(e, e.pair.A4, netip.AddrPortFrom(e.pair.B4, 5300), 200, 64),
				sendUDP(e, e.pair.A6, netip.AddrPortFrom(e.pair.B6, 5300), 40, 64))
			return where{e.pair.InodeB, "udp", 5300, fw.Dropped, "rule counter", false}, err
		}},
	serviceToClosedPort,
	{name: "udp to a closed port", reason: "NO_SOCKET", stage: "l4.rcv",
		run: func(e *env) (where, error) {
			c, err := faults.WatchNoPorts(e.b)
			if err != nil {
				return where{}, err
			}
			err = sendUDP(e, e.pair.A4, netip.AddrPortFrom(e.pair.B4, 9), 50, 32)
			return where{e.pair.InodeB, "udp", 9, c.Dropped, "Udp.NoPorts", false}, err
		}},
	{name: "tcp connect to a closed port", reason: "NO_SOCKET", stage: "l4.rcv",
		run: func(e *env) (where, error) {
			c, err := faults.WatchResets(e.b)
			if err != nil {
				return where{}, err
			}
			for range 5 {
				// Refused at once; one SYN each.
				if _, err := faults.ConnectTCP(e.a, e.pair.A4, netip.AddrPortFrom(e.pair.B4, 8080), 500*time.Millisecond); err == nil {
					return where{}, errors.New("connect to a closed port succeeded")
				}
			}
			return where{e.pair.InodeB, "tcp", 8080, c.Dropped, "Tcp.OutRsts", false}, nil
		}},
	{name: "receiver too slow (socket buffer full)", reason: "SOCKET_RCVBUFF", stage: "sock.rcv",
		run: func(e *env) (where, error) {
			r, err := faults.ListenStuck(e.b, netip.AddrPortFrom(e.pair.B4, 6000), 4096)
			if err != nil {
				return where{}, err
			}
			e.onClose(r.Close)
			err = sendUDP(e, e.pair.A4, r.Addr(), 300, 200)
			return where{e.pair.InodeB, "udp", 6000, r.Dropped, "Udp.RcvbufErrors", false}, err
		}},
	{name: "tc ingress filter dropping udp/7000", reason: "TC_INGRESS", stage: "rx.core",
		run: func(e *env) (where, error) {
			d, err := faults.DropIngress(e.b, e.pair.IfB, faults.UDP, 7000)
			if err != nil {
				return where{}, err
			}
			e.onClose(d.Close)
			err = sendUDP(e, e.pair.A4, netip.AddrPortFrom(e.pair.B4, 7000), 100, 64)
			return where{e.pair.InodeB, "udp", 7000, d.Dropped, "tc program counter", false}, err
		}},
	{name: "XDP program dropping udp/7100", reason: "XDP_DROP", stage: "rx.driver",
		run: func(e *env) (where, error) {
			d, err := faults.DropXDP(e.b, e.pair.IfB, faults.UDP, 7100)
			if err != nil {
				return where{}, err
			}
			e.onClose(d.Close)
			err = sendUDP(e, e.pair.A4, netip.AddrPortFrom(e.pair.B4, 7100), 60, 64)
			return where{e.pair.InodeB, "udp", 7100, d.Dropped, "xdp program counter", false}, err
		}},
	{name: "shaping qdisc overflowing", reason: "QDISC_DROP", stage: "tx.queue",
		run: func(e *env) (where, error) {
			sink, err := faults.ListenStuck(e.b, netip.AddrPortFrom(e.pair.B4, 8000), 4<<20)
			if err != nil {
				return where{}, err
			}
			e.onClose(sink.Close)
			sh, err := faults.Shape(e.a, e.pair.IfA, faults.ShapeConfig{Rate: 125_000, Burst: 4000, Limit: 8000})
			if err != nil {
				return where{}, err
			}
			// The shaper goes as soon as its queue drained: the faults
			// after it must not be slowed down.
			err = errors.Join(sendUDP(e, e.pair.A4, sink.Addr(), 300, 1000), sh.WaitEmpty(5*time.Second))
			dropped, derr := sh.Dropped()
			err = errors.Join(err, derr, sh.Close())
			truth := func() (uint64, error) { return dropped, nil }
			return where{e.pair.InodeA, "udp", 8000, truth, "qdisc drop counter", false}, err
		}},
}
