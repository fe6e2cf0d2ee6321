package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// node is the parse tree. Leaves are never negated: "not" stays a node
// until the DNF conversion pushes it down, so the tree reads exactly as
// written (the property tests evaluate it directly).
type node interface{ isNode() }

type (
	leafNode struct{ p Pred }
	notNode  struct{ x node }
	andNode  struct{ l, r node }
	orNode   struct{ l, r node }
)

func (leafNode) isNode() {}
func (notNode) isNode()  {}
func (andNode) isNode()  {}
func (orNode) isNode()   {}

// maxDepth bounds parentheses and "not" nesting: no real filter comes
// close, and it keeps hostile input from recursing without end.
const maxDepth = 64

// dirQual is a direction qualifier as written; dirAnd needs two predicates.
type dirQual uint8

const (
	dirNone dirQual = iota
	dirSrc
	dirDst
	dirOr  // "src or dst"
	dirAnd // "src and dst"
)

// qual is what qualifies a primitive's value. pcap lets a bare value repeat
// the qualifiers of the previous primitive ("port 80 or 443"), so the
// parser keeps the last one.
type qual struct {
	proto     *Pred  // "tcp" in "tcp port 80", "ip" in "ip proto 47": ANDed in front
	protoName string // its keyword
	family    uint8  // from an ip/ip6 qualifier: addresses must be of this family
	dir       dirQual
	kind      string // host, net, port, portrange, proto
	inferred  bool   // kind not written but read off the value ("src 198.18.0.1")
	text      string // the qualifiers as written, for messages: "tcp dst port"
	col       int    // where they start
}

var protoKeywords = map[string]uint8{"icmp": 1, "tcp": 6, "udp": 17, "icmp6": 58, "sctp": 132}

var familyKeywords = map[string]uint8{"ip": 4, "ip6": 6}

// qualifiable are the words that make a preceding protocol or family
// keyword a qualifier rather than a primitive of its own.
var qualifiable = map[string]bool{"src": true, "dst": true, "host": true, "net": true,
	"port": true, "portrange": true, "proto": true}

// ipProtoNames are pcap protocol keywords this filter leaves out, with the
// number to use instead.
var ipProtoNames = map[string]uint8{"igmp": 2, "igrp": 9, "esp": 50, "ah": 51, "pim": 103, "vrrp": 112, "carp": 112}

// unsupported are other pcap keywords, rejected with a clearer message than
// "unknown primitive".
var unsupported = map[string]bool{"ether": true, "arp": true, "rarp": true, "vlan": true, "mpls": true,
	"less": true, "greater": true, "len": true, "broadcast": true, "multicast": true, "gateway": true,
	"inbound": true, "outbound": true, "ifname": true, "protochain": true, "atalk": true, "decnet": true,
	"iso": true, "stp": true, "ipx": true, "llc": true, "wlan": true, "pppoes": true, "geneve": true}

func isKeyword(w string) bool {
	_, p := protoKeywords[w]
	_, f := familyKeywords[w]
	return p || f || qualifiable[w] || w == "mask" || w == "and" || w == "or" || w == "not"
}

type parser struct {
	toks  []token
	pos   int
	depth int
	last  *qual // qualifiers a bare value repeats; nil: none
}

// parse returns the tree of expr, nil for an empty expression.
func parse(expr string) (node, error) {
	p := &parser{toks: lex(expr)}
	if p.peek().kind == tEOF {
		return nil, nil
	}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	switch t := p.peek(); t.kind {
	case tEOF:
		return n, nil
	case tRParen:
		return nil, errAt(t, `unbalanced parentheses: this ")" has no "("`)
	default:
		return nil, errAt(t, `expected "and", "or" or the end of the filter, got %s%s`, t.describe(), caseHint(t))
	}
}

// errAt makes an error at t. Whatever the parser expected there, a bad
// character is best explained by the lexer's own message.
func errAt(t token, format string, args ...any) *Error {
	if t.kind == tBad {
		return &Error{Col: t.col, Msg: t.msg}
	}
	return &Error{Col: t.col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) peek() token { return p.peekAt(0) }

func (p *parser) peekAt(k int) token {
	if p.pos+k < len(p.toks) {
		return p.toks[p.pos+k]
	}
	return p.toks[len(p.toks)-1] // tEOF
}

func (p *parser) next() token {
	t := p.peek()
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

// expr parses a chain of unary terms. pcap gives "and" and "or" the same
// precedence and groups them from the left; doing otherwise would change
// the meaning of filters copied from tcpdump.
func (p *parser) expr() (node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		if op.kind != tAnd && op.kind != tOr {
			return left, nil
		}
		p.next()
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		if op.kind == tAnd {
			left = andNode{left, right}
		} else {
			left = orNode{left, right}
		}
	}
}

func (p *parser) unary() (node, error) {
	t := p.peek()
	if p.depth >= maxDepth {
		return nil, errAt(t, "filter nested too deeply (over %d levels of parentheses and \"not\")", maxDepth)
	}
	p.depth++
	defer func() { p.depth-- }()
	switch t.kind {
	case tNot:
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case tLParen:
		p.next()
		if c := p.peek(); c.kind == tRParen {
			return nil, errAt(c, "empty parentheses")
		}
		// pcap's grammar gives a group's ")" the qualifiers in force
		// before its "(": "host a or (port 80) or b" is "... or host b".
		saved := p.last
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		switch c := p.peek(); c.kind {
		case tRParen:
			p.next()
		case tEOF:
			return nil, errAt(t, `unbalanced parentheses: this "(" is never closed`)
		default:
			return nil, errAt(c, `expected "and", "or" or ")", got %s%s`, c.describe(), caseHint(c))
		}
		p.last = saved
		return x, nil
	case tWord:
		return p.primitive()
	}
	if p.pos > 0 {
		return nil, errAt(t, "expected a primitive after %q, got %s", p.toks[p.pos-1].text, t.describe())
	}
	return nil, errAt(t, "expected a primitive, got %s", t.describe())
}

func (p *parser) primitive() (node, error) {
	t := p.peek()
	if n, ok := protoKeywords[t.text]; ok {
		return p.protoOrQualifier(t, Pred{Kind: Proto, Proto: n}, 0)
	}
	if f, ok := familyKeywords[t.text]; ok {
		return p.protoOrQualifier(t, Pred{Kind: Family, Family: f}, f)
	}
	if qualifiable[t.text] {
		return p.qualified(qual{col: t.col})
	}
	if t.text == "mask" {
		return nil, errAt(t, `"mask" must follow "net ADDR"`)
	}
	if onlyLetters(t.text) {
		// A misspelt or unsupported keyword, not a value: say so rather
		// than "expected a port number" from a repeated qualifier.
		return nil, unknownPrimitive(t)
	}
	if p.last != nil {
		q := *p.last
		if q.inferred { // "src 198.18.0.1 or 198.18.0.0/15": src host, then src net
			q.kind = inferKind(t.text)
		}
		return p.value(q, p.next(), true)
	}
	// Nothing to repeat: pcap reads a bare address as host, a bare
	// network as net.
	if _, err := netip.ParseAddr(t.text); err == nil || strings.Contains(t.text, "/") {
		return p.value(qual{kind: inferKind(t.text), inferred: true, col: t.col}, p.next(), false)
	}
	return nil, unknownPrimitive(t)
}

// inferKind is what pcap makes of a value with no host or net keyword.
func inferKind(value string) string {
	if strings.Contains(value, "/") {
		return "net"
	}
	return "host"
}

// protoOrQualifier handles tcp, udp, ..., ip, ip6: a primitive of its own,
// or the protocol qualifier of the primitive that follows ("udp port 53").
func (p *parser) protoOrQualifier(t token, pred Pred, family uint8) (node, error) {
	p.next()
	if nx := p.peek(); nx.kind != tWord || !qualifiable[nx.text] {
		p.last = nil // pcap: a keyword-only primitive has no qualifiers to repeat
		return leafNode{pred}, nil
	}
	return p.qualified(qual{proto: &pred, protoName: t.text, family: family, text: t.text, col: t.col})
}

// qualified parses [dir] kind value, or dir value, with q holding any
// protocol qualifier already read.
func (p *parser) qualified(q qual) (node, error) {
	if t := p.peek(); t.text == "src" || t.text == "dst" {
		p.next()
		q.dir, q.text = dirSrc, join(q.text, t.text)
		other := "dst"
		if t.text == "dst" {
			q.dir, other = dirDst, "src"
		}
		if op, o := p.peek(), p.peekAt(1); (op.kind == tOr || op.kind == tAnd) && o.kind == tWord && o.text == other {
			p.next()
			p.next()
			q.dir, q.text = dirOr, join(q.text, op.text, o.text)
			if op.kind == tAnd {
				q.dir = dirAnd
			}
		}
	}
	t := p.peek()
	switch {
	case t.kind == tWord && qualifiable[t.text] && t.text != "src" && t.text != "dst":
		p.next()
		q.kind, q.text = t.text, join(q.text, t.text)
	case q.dir != dirNone && t.kind == tWord && !isKeyword(t.text) && !onlyLetters(t.text):
		// pcap: "src 198.18.0.1" is src host, "src 198.18.0.0/15" src net.
		q.kind, q.inferred = inferKind(t.text), true
	default:
		return nil, errAt(t, `expected "host", "net", "port", "portrange" or an address after %q, got %s`, q.text, t.describe())
	}
	if q.kind == "proto" && q.dir != dirNone {
		return nil, errAt(t, `"proto" takes no "src" or "dst"`)
	}
	if q.proto != nil && q.proto.Kind == Proto {
		name := q.protoName
		if !isPortProto(q.proto.Proto) {
			return nil, errAt(t, "%q has no ports or addresses to qualify; write %q", name, name+" and "+q.kind+" ...")
		}
		if q.kind != "port" && q.kind != "portrange" {
			return nil, errAt(t, "%q can only qualify port and portrange; write %q", name, name+" and "+q.kind+" ...")
		}
	}
	v := p.next()
	n, err := p.value(q, v, false)
	if err != nil {
		return nil, err
	}
	p.last = &q
	return n, nil
}

func join(parts ...string) string {
	return strings.TrimSpace(strings.Join(parts, " "))
}

// value parses the value token v of a primitive qualified by q. repeated
// says q was not written but repeated from an earlier primitive, which an
// error message must say or it would make no sense.
func (p *parser) value(q qual, v token, repeated bool) (node, error) {
	ctx := fmt.Sprintf(" after %q", q.kind)
	switch {
	case repeated:
		ctx = fmt.Sprintf(" (repeating %q from column %d)", q.text, q.col)
	case q.inferred && q.text != "":
		ctx = fmt.Sprintf(" after %q", q.text)
	case q.inferred:
		ctx = ""
	}
	expected := func(what, hint string) error {
		return errAt(v, "expected %s%s, got %s%s", what, ctx, v.describe(), hint)
	}
	word := v.kind == tWord && !isKeyword(v.text)
	var pred Pred
	switch q.kind {
	case "host":
		if !word {
			return nil, expected("an address", "")
		}
		a, err := netip.ParseAddr(v.text)
		if err != nil {
			hint := ""
			if strings.Contains(v.text, "/") {
				hint = ` (a network needs "net")`
			}
			return nil, expected("an IPv4 or IPv6 address", hint)
		}
		if a.Zone() != "" {
			return nil, errAt(v, "zoned address %q is not supported", v.text)
		}
		pred = Pred{Kind: Net, Prefix: netip.PrefixFrom(a, a.BitLen())}
	case "net":
		if !word {
			return nil, expected("a network", "")
		}
		pfx, err := p.network(v, expected)
		if err != nil {
			return nil, err
		}
		pred = Pred{Kind: Net, Prefix: pfx}
	case "port":
		if !word {
			return nil, expected("a port number", "")
		}
		n, err := number(v, v.text, "port", 65535, expected)
		if err != nil {
			return nil, err
		}
		pred = Pred{Kind: Port, PortLo: uint16(n), PortHi: uint16(n)}
	case "portrange":
		a, b, ok := strings.Cut(v.text, "-")
		if !word || !ok {
			return nil, expected("a port range A-B", " (one word, e.g. 1024-65535)")
		}
		lo, err := number(v, a, "port", 65535, expected)
		if err != nil {
			return nil, err
		}
		hi, err := number(v, b, "port", 65535, expected)
		if err != nil {
			return nil, err
		}
		if lo > hi {
			return nil, errAt(v, "portrange %s is reversed: %d > %d", v.text, lo, hi)
		}
		pred = Pred{Kind: Port, PortLo: uint16(lo), PortHi: uint16(hi)}
	case "proto":
		if !word {
			hint := ""
			if n, ok := protoKeywords[v.text]; ok {
				hint = fmt.Sprintf(" (write %q alone, or \"proto %d\")", v.text, n)
			}
			return nil, expected("a protocol number", hint)
		}
		n, err := number(v, v.text, "protocol", 255, expected)
		if err != nil {
			return nil, err
		}
		pred = Pred{Kind: Proto, Proto: uint8(n)}
	}
	if pred.Kind == Net && q.family != 0 && netFamily(pred.Prefix) != q.family {
		return nil, errAt(v, "%q is an IPv%d address, but the qualifier %q asks for IPv%d",
			v.text, netFamily(pred.Prefix), q.text, q.family)
	}
	var n node
	switch q.dir {
	case dirSrc:
		pred.Dir = Src
		n = leafNode{pred}
	case dirDst:
		pred.Dir = Dst
		n = leafNode{pred}
	case dirAnd:
		s, d := pred, pred
		s.Dir, d.Dir = Src, Dst
		n = andNode{leafNode{s}, leafNode{d}}
	default:
		if pred.Kind == Net || pred.Kind == Port {
			pred.Dir = Either
		}
		n = leafNode{pred}
	}
	if q.proto != nil {
		n = andNode{leafNode{*q.proto}, n}
	}
	return n, nil
}

// network parses the value of "net": ADDR/LEN, ADDR, or ADDR mask MASK.
func (p *parser) network(v token, expected func(what, hint string) error) (netip.Prefix, error) {
	if strings.Contains(v.text, "/") {
		pfx, err := netip.ParsePrefix(v.text)
		if err != nil {
			return netip.Prefix{}, expected("a network ADDR/LEN", " (e.g. 198.18.0.0/15 or 2001:db8::/32)")
		}
		if m := p.peek(); m.kind == tWord && m.text == "mask" {
			return netip.Prefix{}, errAt(m, `"mask" cannot follow a network with a /length`)
		}
		return pfx.Masked(), nil
	}
	a, err := netip.ParseAddr(v.text)
	if err != nil {
		hint := " (e.g. 198.18.0.0/15 or 2001:db8::/32)"
		if strings.Trim(v.text, "0123456789.") == "" {
			hint = " (shortened networks are not supported: write 10.1.0.0/16 for 10.1)"
		}
		return netip.Prefix{}, expected("a network ADDR/LEN", hint)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errAt(v, "zoned address %q is not supported", v.text)
	}
	m := p.peek()
	if m.kind != tWord || m.text != "mask" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if !a.Is4() {
		return netip.Prefix{}, errAt(m, `"mask" needs an IPv4 network; write %s/LEN`, v.text)
	}
	p.next()
	mt := p.next()
	mask, err := netip.ParseAddr(mt.text)
	if mt.kind != tWord || err != nil || !mask.Is4() {
		return netip.Prefix{}, errAt(mt, `expected an IPv4 netmask after "mask", got %s`, mt.describe())
	}
	bits, ok := maskBits(mask)
	if !ok {
		return netip.Prefix{}, errAt(mt, "netmask %s is not contiguous", mt.text)
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

// maskBits is the prefix length of a contiguous IPv4 netmask.
func maskBits(m netip.Addr) (int, bool) {
	b := m.As4()
	u := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	inv := ^u
	if inv&(inv+1) != 0 { // the zeros must be one run at the bottom
		return 0, false
	}
	n := 0
	for ; u != 0; u <<= 1 {
		n++
	}
	return n, true
}

// number parses a decimal number in s (all or part of token v) up to max.
// Decimal only: pcap reads 0x50 as hex and 080 as octal, and silently
// reading either differently from tcpdump would be worse than refusing.
func number(v token, s, what string, max int, expected func(what, hint string) error) (int, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, expected("a "+what+" number", "")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errAt(v, "%s number %q has a leading zero (pcap reads it as octal); write it in decimal", what, s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return 0, errAt(v, "%s %s is out of range (0-%d)", what, s, max)
	}
	return n, nil
}

// onlyLetters tells a word that cannot be a value (an address has digits
// or colons) and so is meant as a keyword.
func onlyLetters(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && r != '_' {
			return false
		}
	}
	return s != ""
}

// caseHint explains a keyword written in capitals ("tcp AND udp").
func caseHint(t token) string {
	if lw := strings.ToLower(t.text); t.kind == tWord && lw != t.text && isKeyword(lw) {
		return fmt.Sprintf(" (keywords are lower case: %q)", lw)
	}
	return ""
}

func unknownPrimitive(t token) *Error {
	w := t.text
	switch lw := strings.ToLower(w); {
	case lw != w && (isKeyword(lw) || unsupported[lw] || ipProtoNames[lw] != 0):
		return errAt(t, "unknown primitive %q (keywords are lower case: %q)", w, lw)
	case ipProtoNames[w] != 0:
		return errAt(t, "%q is not supported; write \"proto %d\"", w, ipProtoNames[w])
	case unsupported[w]:
		return errAt(t, "%q is not supported (only tcp, udp, icmp, icmp6, sctp, ip, ip6, proto, host, net, port and portrange are)", w)
	case strings.ContainsAny(w, "[]"):
		return errAt(t, "packet byte expressions such as %q are not supported", w)
	case w != "" && strings.Trim(w, "0123456789") == "":
		return errAt(t, "a bare number needs a qualifier: \"port %s\" or \"proto %s\"", w, w)
	}
	return errAt(t, "unknown primitive %q", w)
}
