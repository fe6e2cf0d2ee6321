package flow

import (
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/dropspot/dropspot/internal/bpf"
	"github.com/dropspot/dropspot/internal/filter"
	"github.com/dropspot/dropspot/internal/testnet"
)

// The BPF parser, run by the kernel on crafted frames through the
// never-attached selftest programs (BPF_PROG_TEST_RUN).
type parser struct {
	nethdr, mac *ebpf.Program
	results     *ebpf.Map
}

func newParser(t *testing.T) *parser {
	testnet.RequirePrivileged(t)
	spec, err := bpf.LoadDropspot()
	if err != nil {
		t.Fatal(err)
	}
	var objs struct {
		Nethdr  *ebpf.Program `ebpf:"selftest_parse_nethdr"`
		Mac     *ebpf.Program `ebpf:"selftest_parse_mac"`
		Results *ebpf.Map     `ebpf:"parse_results"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Nethdr.Close(); objs.Mac.Close(); objs.Results.Close() })
	return &parser{objs.Nethdr, objs.Mac, objs.Results}
}

func (p *parser) parse(t *testing.T, prog *ebpf.Program, frame []byte) bpf.DropspotSelftestResult {
	t.Helper()
	if _, err := prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
		t.Fatalf("test run: %v", err)
	}
	var r bpf.DropspotSelftestResult
	if err := p.results.Lookup(uint32(0), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	srcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	dstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	v4a    = net.IP{198, 18, 7, 1}
	v4b    = net.IP{198, 18, 7, 2}
	v6a    = net.ParseIP("2001:db8:7::1")
	v6b    = net.ParseIP("2001:db8:7::2")
)

func frame(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, l := range ls {
		if n, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, nl := range ls {
				if net, ok := nl.(gopacket.NetworkLayer); ok {
					n.SetNetworkLayerForChecksum(net)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: t}
}

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: v4a, DstIP: v4b}
}

func ip6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: v6a, DstIP: v6b}
}

func udp(sport, dport layers.UDPPort) *layers.UDP { return &layers.UDP{SrcPort: sport, DstPort: dport} }

func TestParser(t *testing.T) {
	p := newParser(t)
	payload := gopacket.Payload(make([]byte, 100))
	a4, b4 := netip.MustParseAddr("198.18.7.1"), netip.MustParseAddr("198.18.7.2")
	a6, b6 := netip.MustParseAddr("2001:db8:7::1"), netip.MustParseAddr("2001:db8:7::2")

	fragV4 := ip4(layers.IPProtocolUDP)
	fragV4.FragOffset = 185 // a non-first fragment
	hopByHop := &layers.IPv6HopByHop{}
	hopByHop.NextHeader = layers.IPProtocolIPv6Destination
	hopByHop.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
	destOpts := &layers.IPv6Destination{}
	destOpts.NextHeader = layers.IPProtocolUDP
	destOpts.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
	withExt := ip6(layers.IPProtocolIPv6HopByHop)
	fragHdr := func(offset uint16) *layers.IPv6Fragment {
		return &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: offset, Identification: 7}
	}

	for _, tc := range []struct {
		name         string
		prog         *ebpf.Program
		frame        []byte
		ret          bpf.DropspotParseResult
		proto        uint8
		src, dst     netip.Addr
		sport, dport uint16
		icmp         string // the key's ICMPName
		bytes        uint32
	}{
		{name: "udp4", prog: p.nethdr, frame: frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(40000, 9999), payload),
			proto: 17, src: a4, dst: b4, sport: 40000, dport: 9999, bytes: 128},
		{name: "tcp4", prog: p.nethdr, frame: frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP),
			&layers.TCP{SrcPort: 443, DstPort: 50000, DataOffset: 5, SYN: true}),
			proto: 6, src: a4, dst: b4, sport: 443, dport: 50000, bytes: 40},
		{name: "icmp echo", prog: p.nethdr, frame: frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 4242, Seq: 1}),
			proto: 1, src: a4, dst: b4, sport: 4242, dport: 4242, icmp: "echo-request", bytes: 28},
		{name: "icmp unreachable", prog: p.nethdr, frame: frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, payload),
			proto: 1, src: a4, dst: b4, sport: 3, dport: 3, icmp: "port-unreachable", bytes: 128},
		{name: "ipv4 non-first fragment", prog: p.nethdr, frame: frame(t, eth(layers.EthernetTypeIPv4), fragV4, payload),
			proto: 17, src: a4, dst: b4, bytes: 120},
		{name: "udp6", prog: p.nethdr, frame: frame(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(1000, 53), payload),
			proto: 17, src: a6, dst: b6, sport: 1000, dport: 53, bytes: 148},
		{name: "udp6 behind hop-by-hop and destination options", prog: p.nethdr,
			frame: frame(t, eth(layers.EthernetTypeIPv6), withExt, hopByHop, destOpts, udp(1001, 54), payload),
			proto: 17, src: a6, dst: b6, sport: 1001, dport: 54, bytes: 164},
		{name: "udp6 first fragment", prog: p.nethdr,
			frame: frame(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), fragHdr(0), udp(1002, 55), payload),
			proto: 17, src: a6, dst: b6, sport: 1002, dport: 55, bytes: 156},
		{name: "udp6 non-first fragment", prog: p.nethdr,
			frame: frame(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), fragHdr(100), payload),
			proto: 17, src: a6, dst: b6, bytes: 148},
		{name: "icmp6 echo reply", prog: p.nethdr, frame: frame(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6),
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(129, 0)}, &layers.ICMPv6Echo{Identifier: 77, SeqNumber: 2}),
			proto: 58, src: a6, dst: b6, sport: 77, dport: 77, icmp: "echo-reply", bytes: 48},
		{name: "gre by number", prog: p.nethdr, frame: frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolGRE), payload),
			proto: 47, src: a4, dst: b4, bytes: 120},
		{name: "double VLAN tag at eth_type_trans", prog: p.mac,
			frame: frame(t, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q},
				&layers.Dot1Q{VLANIdentifier: 20, Type: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolUDP), udp(7, 8), payload),
			proto: 17, src: a4, dst: b4, sport: 7, dport: 8, bytes: 128},
		{name: "arp", prog: p.nethdr, frame: frame(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
			Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: srcMAC, SourceProtAddress: v4a, DstHwAddress: dstMAC, DstProtAddress: v4b}),
			ret: bpf.DropspotParseResultPARSE_NOT_IP},
		{name: "ethertype IPv4 carrying version 6", prog: p.nethdr,
			frame: frame(t, eth(layers.EthernetTypeIPv4), ip6(layers.IPProtocolUDP), udp(1, 2)),
			ret:   bpf.DropspotParseResultPARSE_MALFORMED},
		{name: "truncated IPv4 header", prog: p.nethdr,
			frame: append(frame(t, eth(layers.EthernetTypeIPv4)), 0x45, 0, 0, 40, 0, 0),
			ret:   bpf.DropspotParseResultPARSE_MALFORMED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.parse(t, tc.prog, tc.frame)
			if r.Ret != tc.ret {
				t.Fatalf("parse result %v, want %v", r.Ret, tc.ret)
			}
			if tc.ret != bpf.DropspotParseResultPARSE_OK {
				return
			}
			k := FromBPF(r.Key)
			if k.Proto != tc.proto || k.Src != tc.src || k.Dst != tc.dst || k.Sport != tc.sport || k.Dport != tc.dport ||
				k.ICMPName() != tc.icmp {
				t.Errorf("key %v, want %s %v:%d -> %v:%d", k, ProtoName(tc.proto), tc.src, tc.sport, tc.dst, tc.dport)
			}
			if r.Meta.Segs != 1 || r.Meta.Bytes != tc.bytes {
				t.Errorf("segs %d bytes %d, want 1 and %d", r.Meta.Segs, r.Meta.Bytes, tc.bytes)
			}
		})
	}
}

// The kernel evaluates a compiled filter exactly as the Go definition
// (filter.Program.Match, MatchUnparsed) does, on every packet shape of the
// parser test, frames that are not IP or not well-formed IP included.
func TestKernelFilterMatchesGo(t *testing.T) {
	testnet.RequirePrivileged(t)
	frames := map[string][]byte{
		"udp4":  frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(40000, 53), gopacket.Payload([]byte{1})),
		"tcp4":  frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), &layers.TCP{SrcPort: 443, DstPort: 50000, DataOffset: 5}),
		"icmp4": frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 53}),
		"udp6":  frame(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(1000, 443), gopacket.Payload([]byte{1})),
		"icmp6": frame(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, &layers.ICMPv6Echo{Identifier: 443}),
		"arp": frame(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: srcMAC, SourceProtAddress: v4a,
			DstHwAddress: dstMAC, DstProtAddress: v4b}),
		"malformed": append(frame(t, eth(layers.EthernetTypeIPv4)), 0x45, 0, 0, 40, 0, 0),
	}
	exprs := []string{
		"", "udp", "tcp or icmp", "not udp", "ip6", "ip and not icmp",
		"port 53", "not port 53", "dst port 53", "src port 53", "portrange 400-500", "src portrange 440-450 or dst port 53",
		"host 198.18.7.1", "src host 198.18.7.2", "dst host 198.18.7.2", "net 198.18.0.0/16", "not net 198.18.7.0/25",
		"host 2001:db8:7::2", "net 2001:db8::/32 and udp", "not host 198.18.7.1",
		"(tcp and src port 443) or (udp and dst portrange 50-60) or icmp6",
		"proto 1", "ip6 proto 58", "not (udp or tcp) and net 198.18.7.0/24",
		"not tcp", "not ip and not ip6", "udp or not port 53", "proto 0", "not proto 0",
	}
	spec, err := bpf.LoadDropspot()
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range exprs {
		prog, err := filter.Compile(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		if err := spec.Variables["CFG"].Set(Filter{Program: prog}.Config()); err != nil {
			t.Fatal(err)
		}
		var objs struct {
			Prog    *ebpf.Program `ebpf:"selftest_parse_nethdr"`
			Results *ebpf.Map     `ebpf:"parse_results"`
		}
		if err := spec.LoadAndAssign(&objs, nil); err != nil {
			t.Fatalf("%q: load: %v", expr, err)
		}
		p := &parser{nethdr: objs.Prog, results: objs.Results}
		for name, fr := range frames {
			r := p.parse(t, objs.Prog, fr)
			k := FromBPF(r.Key)
			fam := uint8(4)
			if k.Src.Is6() {
				fam = 6
			}
			want := prog.Match(filter.Packet{Family: fam, Proto: k.Proto, Src: k.Src, Dst: k.Dst, Sport: k.Sport, Dport: k.Dport})
			if r.Ret != bpf.DropspotParseResultPARSE_OK {
				want = prog.MatchUnparsed()
			}
			if got := r.Matched == 1; got != want {
				t.Errorf("filter %q on %s: kernel says %v, Go says %v", expr, name, got, want)
			}
		}
		objs.Prog.Close()
		objs.Results.Close()
	}
}
