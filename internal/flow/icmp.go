package flow

import "fmt"

// icmpType is an ICMP message type's name and, where they have names, its
// codes'. The names are iptables' (`iptables -p icmp -h`, `ip6tables -p
// icmpv6 -h`).
type icmpType struct {
	name  string
	codes []string // by code; "" for a code without a name
}

var icmp4Types = map[uint16]icmpType{
	0: {name: "echo-reply"},
	3: {"destination-unreachable", []string{"network-unreachable", "host-unreachable", "protocol-unreachable",
		"port-unreachable", "fragmentation-needed", "source-route-failed", "network-unknown", "host-unknown", "",
		"network-prohibited", "host-prohibited", "TOS-network-unreachable", "TOS-host-unreachable",
		"communication-prohibited", "host-precedence-violation", "precedence-cutoff"}},
	4:  {name: "source-quench"},
	5:  {"redirect", []string{"network-redirect", "host-redirect", "TOS-network-redirect", "TOS-host-redirect"}},
	8:  {name: "echo-request"},
	9:  {name: "router-advertisement"},
	10: {name: "router-solicitation"},
	11: {"time-exceeded", []string{"ttl-zero-during-transit", "ttl-zero-during-reassembly"}},
	12: {"parameter-problem", []string{"ip-header-bad", "required-option-missing"}},
	13: {name: "timestamp-request"},
	14: {name: "timestamp-reply"},
	17: {name: "address-mask-request"},
	18: {name: "address-mask-reply"},
}

var icmp6Types = map[uint16]icmpType{
	1: {"destination-unreachable", []string{"no-route", "communication-prohibited", "beyond-scope",
		"address-unreachable", "port-unreachable", "failed-policy", "reject-route"}},
	2:   {name: "packet-too-big"},
	3:   {"time-exceeded", []string{"ttl-zero-during-transit", "ttl-zero-during-reassembly"}},
	4:   {"parameter-problem", []string{"bad-header", "unknown-header-type", "unknown-option"}},
	128: {name: "echo-request"},
	129: {name: "echo-reply"},
	130: {name: "mld-listener-query"},
	131: {name: "mld-listener-report"},
	132: {name: "mld-listener-done"},
	133: {name: "router-solicitation"},
	134: {name: "router-advertisement"},
	135: {name: "neighbour-solicitation"},
	136: {name: "neighbour-advertisement"},
	137: {name: "redirect"},
	143: {name: "mld2-listener-report"},
}

// ICMPName names an ICMP or ICMPv6 flow's messages, "" for other
// protocols: an echo "echo-request" or "echo-reply", another message its
// code's name where it has one ("port-unreachable"), else its type's
// ("packet-too-big", "time-exceeded code 7"), else its numbers.
func (k Key) ICMPName() string {
	types := icmp4Types
	switch k.Proto {
	case 1:
	case 58:
		types = icmp6Types
	default:
		return ""
	}
	switch k.Echo {
	case EchoRequest:
		return "echo-request"
	case EchoReply:
		return "echo-reply"
	}
	typ, code := k.Sport, k.Dport
	t, ok := types[typ]
	switch {
	case !ok:
		return fmt.Sprintf("type %d code %d", typ, code)
	case int(code) < len(t.codes) && t.codes[code] != "":
		return t.codes[code]
	case code == 0 && t.codes == nil:
		return t.name
	}
	return fmt.Sprintf("%s code %d", t.name, code)
}
