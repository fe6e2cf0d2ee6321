package filter

import (
	"fmt"
	"strings"
)

var protoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6", 132: "sctp"}

// String writes the program in the filter syntax, one parenthesised
// conjunction per rule, so that Compile(p.String()) gives p back. The
// parentheses are needed: pcap's "and" does not bind tighter than "or".
// The empty Program (everything) is "".
func (p Program) String() string {
	parts := make([]string, len(p))
	for i, r := range p {
		parts[i] = r.String()
		if len(p) > 1 && len(r) > 1 {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, " or ")
}

// String writes the rule as predicates joined by "and".
func (r Rule) String() string {
	parts := make([]string, len(r))
	for i, p := range r {
		parts[i] = p.String()
	}
	return strings.Join(parts, " and ")
}

// String writes one predicate as the primitive it came from.
func (p Pred) String() string {
	s := ""
	switch p.Kind {
	case Proto:
		if n, ok := protoNames[p.Proto]; ok {
			s = n
		} else {
			s = fmt.Sprintf("proto %d", p.Proto)
		}
	case Family:
		s = "ip"
		if p.Family == 6 {
			s = "ip6"
		}
	case Net:
		if p.Prefix.IsSingleIP() {
			s = dirPrefix(p.Dir) + "host " + p.Prefix.Addr().String()
		} else {
			s = dirPrefix(p.Dir) + "net " + p.Prefix.String()
		}
	case Port:
		if p.PortLo == p.PortHi {
			s = fmt.Sprintf("%sport %d", dirPrefix(p.Dir), p.PortLo)
		} else {
			s = fmt.Sprintf("%sportrange %d-%d", dirPrefix(p.Dir), p.PortLo, p.PortHi)
		}
	default:
		s = fmt.Sprintf("<invalid predicate kind %d>", p.Kind)
	}
	if p.Negate {
		return "not " + s
	}
	return s
}

func dirPrefix(d Dir) string {
	switch d {
	case Src:
		return "src "
	case Dst:
		return "dst "
	}
	return ""
}
