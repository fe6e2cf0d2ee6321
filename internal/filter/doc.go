// Package filter compiles a tcpdump-style filter expression into the small,
// fixed-size rule table the BPF programs evaluate before any map write.
//
// # Why a rule table
//
// The kernel side cannot run a parser or walk a tree of arbitrary depth, and
// the verifier must see bounded loops. So the expression is compiled to
// disjunctive normal form: a [Program] is an OR of at most [MaxRules]
// [Rule]s, each an AND of at most [MaxPreds] [Pred]icates, each of which may
// be negated. A packet passes if any rule has all its predicates true; an
// empty Program passes every packet. [Program.Match] is the reference
// implementation of exactly what bpf/lib/filter.h does.
//
// # Syntax
//
// A documented subset of pcap-filter(7). Keywords are lower case (as in
// tcpdump); numbers are decimal; there is no name resolution (no DNS, no
// /etc/services, no /etc/protocols).
//
// Primitives:
//
//	tcp | udp | icmp | icmp6 | sctp   IP protocol 6, 17, 1, 58, 132
//	ip | ip6                          IPv4, IPv6 packets
//	proto N                           IP protocol N (0-255), either family
//	[dir] host ADDR                   an IPv4 or IPv6 literal (no zone)
//	[dir] net ADDR/LEN                a network, v4 or v6; host bits are masked off
//	[dir] net ADDR                    a full address: the same as host ADDR
//	[dir] net A.B.C.D mask M.M.M.M    an IPv4 network with a contiguous netmask
//	[dir] port N                      a port, 0-65535
//	[dir] portrange A-B               ports A to B inclusive, A <= B, one word
//	dir ADDR | dir ADDR/LEN           host or net, chosen by the value's form
//	ADDR | ADDR/LEN                   the same without dir (when no qualifier repeats; see below)
//
// where dir is one of
//
//	src               the source end
//	dst               the destination end
//	src or dst        either end (the default when dir is left out)
//	dst or src        the same
//	src and dst       both ends ("src and dst host X": X talking to itself)
//	dst and src       the same
//
// ("||" and "&&" may stand for "or" and "and" inside dir, as in pcap).
//
// Protocol qualifiers, as in pcap: "tcp", "udp" and "sctp" may precede a
// port or portrange primitive ("udp port 53" is "udp and port 53"), and "ip"
// or "ip6" may precede host, net, port, portrange and proto ("ip proto 47"
// is "ip and proto 47"; "ip6 host 198.18.0.1" is an error). "icmp" and
// "icmp6" qualify nothing: they have no ports.
//
// Combinators: "not" or "!", "and" or "&&", "or" or "||", parentheses.
// As in pcap, "not" binds tightest and "and" and "or" have EQUAL precedence
// and group from the left: "tcp or udp and port 53" is
// "(tcp or udp) and port 53". Use parentheses when mixing them.
//
// Implicit qualifiers, as in pcap: a bare value where a primitive is expected
// repeats the qualifiers of the previous primitive that took a value, so
// "host 198.18.0.1 or 198.18.0.2", "tcp dst port 80 or 443" and
// "host A and not B" mean what they say. A keyword-only primitive (tcp, ip,
// ...) ends the repetition, and a parenthesised group restores, after its
// ")", the qualifiers in force before its "(" (pcap's grammar does both).
// With nothing to repeat, a bare address is "host ADDR" and a bare
// ADDR/LEN is "net ADDR/LEN"; a bare number is an error.
//
// Not supported (rejected with a message): link-layer and other protocols
// (ether, arp, vlan, ...), packet byte expressions (tcp[13] & 2 != 0),
// len/less/greater, names for hosts, ports and protocols, hex and octal
// numbers, pcap's shortened networks ("net 10.1"), "portrange" with A > B
// (pcap takes it as B-A; here a reversed range is more likely a typo).
// Unlike pcap, a network with host bits set ("net 198.18.7.9/16") is
// accepted and masked to 198.18.0.0/16.
//
// # Errors
//
// Compile returns an *[Error]. For a syntax error its Col is the 1-based
// column, in runes, of the offending token (one past the end when the
// expression stops too early), and its message quotes the token:
//
//	filter: column 14: expected a port number after "port", got "http"
//
// Errors about the expression as a whole (too complex, matches nothing)
// have Col 0.
//
// # Semantics (as tcpdump)
//
//   - port and portrange match only TCP, UDP, UDP-Lite and SCTP packets.
//     This is part of what a Port predicate means (the BPF side checks the
//     protocol before the ports), so "not port 53" is true for ICMP, as in
//     tcpdump.
//   - host and net match only packets of their address's family: a Net
//     predicate on a packet of the other family is false, so
//     "not host 198.18.0.1" is true for every IPv6 packet. An IPv4-mapped
//     IPv6 literal (::ffff:a.b.c.d) is an IPv6 address.
//   - Ports of a flow key are whatever the BPF flow parser stored: ICMP keys
//     carry type/code or the echo id in their port fields, which is why the
//     port predicates must not look at them.
//   - An expression that no packet can match (tcp and udp) is an error, as
//     in pcap, because an empty Program would mean the opposite.
//
// # Compilation
//
// The expression is parsed to a tree, "not" is pushed down to the
// primitives with De Morgan's laws, and the tree is expanded to DNF. Each
// rule is simplified with facts that hold for every packet (duplicates go;
// "tcp and udp" or "p and not p" drops the rule; "udp and not tcp" keeps only
// "udp"; "ip and host 198.18.0.1" keeps only the host), and rules implied by
// another rule are dropped. If the result still needs more than MaxRules
// rules, or a rule more than MaxPreds predicates, Compile fails with a
// "too complex" error instead of silently truncating.
package filter
