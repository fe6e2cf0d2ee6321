package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// sendResult is what udpsend prints: how many datagrams the kernel accepted.
type sendResult struct {
	Sent    uint64  `json:"sent"`
	Errors  uint64  `json:"errors"`
	Seconds float64 `json:"seconds"`
	Sport   int     `json:"sport"`
}

// udpSend writes fixed-size datagrams on a connected UDP socket as fast as
// it can, for --seconds (and at most --max packets).
func udpSend(args []string) error {
	fs := flag.NewFlagSet("udpsend", flag.ContinueOnError)
	dst := fs.String("dst", "", "destination ip:port")
	seconds := fs.Float64("seconds", 4, "how long to send")
	size := fs.Int("size", 64, "UDP payload bytes")
	maxPkts := fs.Uint64("max", 100_000_000, "most datagrams to send")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(*dst)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("--dst %q: want IPv4 ip:port", *dst)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return err
	}
	res := sendResult{Sport: sa.(*unix.SockaddrInet4).Port}
	buf := make([]byte, *size)
	start := time.Now()
	deadline := start.Add(time.Duration(*seconds * float64(time.Second)))
	for n := uint64(0); res.Sent < *maxPkts; n++ {
		if _, err := unix.Write(fd, buf); err != nil {
			res.Errors++
		} else {
			res.Sent++
		}
		if n&1023 == 0 && time.Now().After(deadline) {
			break
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

type recvResult struct {
	Received uint64  `json:"received"`
	Seconds  float64 `json:"seconds"`
}

// udpRecv counts datagrams until none came for --idle after the first, or
// --seconds passed. It prints "ready" once bound.
func udpRecv(args []string) error {
	fs := flag.NewFlagSet("udprecv", flag.ContinueOnError)
	addr := fs.String("addr", "", "bind ip:port")
	seconds := fs.Float64("seconds", 30, "give up after this long")
	idle := fs.Duration("idle", 500*time.Millisecond, "stop after this long without a datagram (once one came)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("--addr %q: want IPv4 ip:port", *addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return err
	}
	fmt.Println("ready")
	var res recvResult
	buf := make([]byte, 65536)
	start := time.Now()
	deadline := start.Add(time.Duration(*seconds * float64(time.Second)))
	last := start
	for {
		_, err := unix.Read(fd, buf)
		now := time.Now()
		if err == nil {
			if res.Received == 0 {
				start = now
			}
			res.Received++
			last = now
			continue
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return err
		}
		if now.After(deadline) || (res.Received > 0 && now.Sub(last) > *idle) {
			break
		}
	}
	res.Seconds = last.Sub(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

type floodResult struct {
	Sent    uint64  `json:"sent"`
	Seconds float64 `json:"seconds"`
	PPS     float64 `json:"pps"`
}

// tapFlood creates a TAP device in the current namespace and writes one
// UDP frame per distinct flow into it: the frames enter this namespace's
// receive path only (no transmit hooks fire), so N flows are N flow
// directions for dropspot. Sources are 198.19.0.0/16 (off-link: no reply
// can be routed), sport 1024+i/65536; nothing listens on --dport.
func tapFlood(args []string) error {
	fs := flag.NewFlagSet("tapflood", flag.ContinueOnError)
	flows := fs.Int("flows", 10000, "distinct flows (one frame each)")
	name := fs.String("name", "", "TAP device name")
	addr := fs.String("addr", "198.18.201.2/24", "address of the TAP device (the destination)")
	dport := fs.Int("dport", 9, "UDP destination port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || len(*name) > 15 {
		return fmt.Errorf("--name: 1..15 characters")
	}
	if *flows < 1 || *flows > 16_000_000 {
		return fmt.Errorf("--flows: 1..16000000")
	}
	pfx, err := netip.ParsePrefix(*addr)
	if err != nil || !pfx.Addr().Is4() {
		return fmt.Errorf("--addr %q: want IPv4 prefix", *addr)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(*name)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+*name+"/disable_ipv6", []byte("1"), 0o644)
	for _, c := range [][]string{
		{"ip", "link", "set", *name, "address", "02:00:5e:c6:c9:02"},
		{"ip", "addr", "add", pfx.String(), "dev", *name},
		{"ip", "link", "set", *name, "up"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v: %s", c, err, out)
		}
	}
	ifc, err := net.InterfaceByName(*name)
	if err != nil {
		return err
	}
	frame := make([]byte, 60)
	copy(frame[0:6], ifc.HardwareAddr)
	copy(frame[6:12], []byte{0x02, 0x00, 0x5e, 0xc6, 0xc9, 0x01})
	binary.BigEndian.PutUint16(frame[12:], 0x0800)
	ip := frame[14:34]
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], 46) // 20 IP + 8 UDP + 18 payload
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	ip[8], ip[9] = 64, 17
	dst := pfx.Addr().As4()
	copy(ip[16:20], dst[:])
	udp := frame[34:42]
	binary.BigEndian.PutUint16(udp[2:], uint16(*dport))
	binary.BigEndian.PutUint16(udp[4:], 26)
	res := floodResult{}
	start := time.Now()
	for i := 0; i < *flows; i++ {
		lo := uint16(i % 65536)
		ip[12], ip[13], ip[14], ip[15] = 198, 19, byte(lo>>8), byte(lo)
		binary.BigEndian.PutUint16(udp[0:], uint16(1024+i/65536))
		binary.BigEndian.PutUint16(ip[4:], uint16(i))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
		if _, err := unix.Write(fd, frame); err != nil {
			return fmt.Errorf("write frame %d: %w", i, err)
		}
		res.Sent++
	}
	res.Seconds = time.Since(start).Seconds()
	res.PPS = float64(res.Sent) / res.Seconds
	return json.NewEncoder(os.Stdout).Encode(res)
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
