package report

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/dropspot/dropspot/internal/flow"
)

// NAT is a translated flow direction's tuple after the translation in
// its namespace (for a reply: as it arrived, before the translation was
// undone). The flow itself is keyed by its connection as the originator
// sees it.
type NAT struct {
	Kind  string `json:"kind"` // "dnat", "snat" or "dnat+snat": the connection's
	Src   string `json:"src"`
	Sport uint16 `json:"sport"`
	Dst   string `json:"dst"`
	Dport uint16 `json:"dport"`
}

// setNAT gives the translated flows their translation.
func setNAT(flows []Flow, nat map[flow.Key]flow.NAT) {
	if len(nat) == 0 {
		return
	}
	for i := range flows {
		n, ok := nat[flows[i].key]
		if !ok {
			continue
		}
		t := n.Tuple
		flows[i].NAT = &NAT{Kind: n.Kind(), Src: t.Src.String(), Sport: t.Sport, Dst: t.Dst.String(), Dport: t.Dport}
	}
}

// appendNATJSON appends the "nat" member of a translated flow.
func appendNATJSON(b []byte, n *NAT) []byte {
	b = append(b, `,"nat":{"kind":`...)
	b = appendString(b, n.Kind)
	b = append(b, `,"src":`...)
	b = appendString(b, n.Src)
	b = append(b, `,"sport":`...)
	b = strconv.AppendUint(b, uint64(n.Sport), 10)
	b = append(b, `,"dst":`...)
	b = appendString(b, n.Dst)
	b = append(b, `,"dport":`...)
	b = strconv.AppendUint(b, uint64(n.Dport), 10)
	return append(b, '}')
}

// appendNATText appends "  DNAT -> 198.18.3.2:8080": the kind, and the
// ends the translation changed in this direction (the source of a DNAT
// connection's replies, say).
func appendNATText(b []byte, f *Flow) []byte {
	n := f.NAT
	b = append(b, "  "...)
	b = append(b, strings.ToUpper(n.Kind)...)
	if n.Src != f.Src || n.Sport != f.Sport {
		b = append(b, ' ')
		b = appendAddrPort(b, n.Src, n.Sport)
	}
	b = append(b, " ->"...)
	if n.Dst != f.Dst || n.Dport != f.Dport {
		b = append(b, ' ')
		b = appendAddrPort(b, n.Dst, n.Dport)
	}
	return b
}

func appendAddrPort(b []byte, addr string, port uint16) []byte {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return append(b, addr...)
	}
	return netip.AddrPortFrom(a, port).AppendTo(b)
}
