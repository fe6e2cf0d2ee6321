package flow

import (
	"encoding/binary"
	"net/netip"

	"github.com/dropspot/dropspot/internal/bpf"
	"github.com/dropspot/dropspot/internal/filter"
)

// Filter selects the flows the kernel side counts. The BPF programs apply
// it before any map write, so what it rejects costs no flow entry.
type Filter struct {
	Program filter.Program // compiled filter expression; empty = everything
	Netns   uint32         // 0 = any
	Ifindex uint32         // device in Netns the packet is on at a stage, 0 = any
}

// Config is the filter as the BPF programs read it.
func (f Filter) Config() bpf.DropspotConfig {
	cfg := bpf.DropspotConfig{FilterNetns: f.Netns, FilterIfindex: f.Ifindex, Nrules: uint32(len(f.Program))}
	if f.Program.MatchUnparsed() {
		cfg.MatchUnparsed = 1
	}
	for i, rule := range f.Program {
		cfg.Rules[i].Npreds = uint32(len(rule))
		for j, p := range rule {
			out := &cfg.Rules[i].Preds[j]
			out.Dir = uint8(p.Dir)
			if p.Negate {
				out.Negate = 1
			}
			switch p.Kind {
			case filter.Proto:
				out.Kind, out.Value = uint8(bpf.DropspotPredKindPRED_PROTO), p.Proto
			case filter.Family:
				out.Kind, out.Value = uint8(bpf.DropspotPredKindPRED_FAMILY), afInet
				if p.Family == 6 {
					out.Value = afInet6
				}
			case filter.Port:
				out.Kind, out.PortLo, out.PortHi = uint8(bpf.DropspotPredKindPRED_PORT), p.PortLo, p.PortHi
			case filter.Net:
				out.Kind = uint8(bpf.DropspotPredKindPRED_NET)
				out.Addr, out.Mask, out.Value = prefixWords(p.Prefix)
			}
		}
	}
	return cfg
}

// prefixWords lays a prefix out as the BPF side compares it: address and
// mask as four 32-bit words in network byte order (IPv4 in the first).
func prefixWords(p netip.Prefix) (addr, mask [4]uint32, family uint8) {
	var a, m [16]byte
	bits, n := p.Bits(), 16
	family = afInet6
	if p.Addr().Is4() {
		a4 := p.Masked().Addr().As4()
		copy(a[:], a4[:])
		family, n = afInet, 4
	} else {
		a = p.Masked().Addr().As16()
	}
	for i := 0; i < n && bits > 0; i++ {
		m[i] = byte(0xff << (8 - min(bits, 8)))
		bits -= 8
	}
	for i := range 4 {
		// The words are compared as loaded from packet memory.
		addr[i] = binary.NativeEndian.Uint32(a[4*i:])
		mask[i] = binary.NativeEndian.Uint32(m[4*i:])
	}
	return addr, mask, family
}
