package filter

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestCompileNormalForm pins what each piece of syntax compiles to, through
// the program's String.
func TestCompileNormalForm(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"", ""},
		{"  \t ", ""},
		{"tcp", "tcp"},
		{"udp or icmp or icmp6 or sctp", "udp or icmp or icmp6 or sctp"},
		{"ip", "ip"},
		{"ip6", "ip6"},
		{"proto 47", "proto 47"},
		{"proto 6", "tcp"},
		{"ip proto 47", "ip and proto 47"},
		{"ip6 proto 58", "ip6 and icmp6"},
		{"tcp and dst port 443 and net 198.18.0.0/16", "tcp and dst port 443 and net 198.18.0.0/16"},
		{"host 198.18.0.1", "host 198.18.0.1"},
		{"src host 2001:db8::5", "src host 2001:db8::5"},
		{"dst host ::ffff:198.18.0.1", "dst host ::ffff:198.18.0.1"},
		{"net 198.18.7.9/16", "net 198.18.0.0/16"}, // host bits masked off
		{"net 2001:db8::1/32", "net 2001:db8::/32"},
		{"net 198.18.0.1", "host 198.18.0.1"},
		{"net 10.0.0.0 mask 255.255.0.0", "net 10.0.0.0/16"},
		{"src net 10.9.9.9 mask 255.0.0.0", "src net 10.0.0.0/8"},
		{"net 10.0.0.0 mask 0.0.0.0", "net 0.0.0.0/0"},
		{"port 0", "port 0"},
		{"src port 65535", "src port 65535"},
		{"portrange 1024-65535", "portrange 1024-65535"},
		{"dst portrange 53-53", "dst port 53"},
		{"198.18.0.1", "host 198.18.0.1"},
		{"198.18.0.0/15", "net 198.18.0.0/15"},
		{"src 198.18.0.1", "src host 198.18.0.1"},
		{"dst 2001:db8::/32", "dst net 2001:db8::/32"},

		// Direction qualifiers, pcap style.
		{"src or dst host 198.18.0.1", "host 198.18.0.1"},
		{"dst or src port 53", "port 53"},
		{"src || dst net 10.0.0.0/8", "net 10.0.0.0/8"},
		{"src and dst host 198.18.0.1", "src host 198.18.0.1 and dst host 198.18.0.1"},
		{"dst && src port 53", "src port 53 and dst port 53"},
		{"not (src and dst host 198.18.0.1)", "not src host 198.18.0.1 or not dst host 198.18.0.1"},

		// Protocol qualifiers.
		{"udp port 53", "udp and port 53"},
		{"tcp dst portrange 1-1023", "tcp and dst portrange 1-1023"},
		{"sctp src port 9", "sctp and src port 9"},
		{"ip host 198.18.0.1", "host 198.18.0.1"}, // a v4 host implies ip
		{"ip6 src net 2001:db8::/32", "src net 2001:db8::/32"},
		{"ip port 53", "ip and port 53"},

		// Implicit repetition of the last qualifiers.
		{"host 198.18.0.1 or 198.18.0.2", "host 198.18.0.1 or host 198.18.0.2"},
		{"port 80 or 443", "port 80 or port 443"},
		{"tcp dst port 80 or 443", "(tcp and dst port 80) or (tcp and dst port 443)"},
		{"host 198.18.0.1 and not 198.18.0.2", "host 198.18.0.1 and not host 198.18.0.2"},
		{"ip proto 6 or 17", "(ip and tcp) or (ip and udp)"},
		{"src 198.18.0.1 or 10.0.0.0/8", "src host 198.18.0.1 or src net 10.0.0.0/8"},
		{"net 10.0.0.0 mask 255.0.0.0 or 11.0.0.0", "net 10.0.0.0/8 or host 11.0.0.0"},
		{"198.18.0.1 or 198.18.0.2", "host 198.18.0.1 or host 198.18.0.2"},
		// ... which a keyword primitive ends, and a group does not leak:
		{"port 53 and tcp or 198.18.0.1", "(port 53 and tcp) or host 198.18.0.1"},
		{"host 198.18.0.1 or (port 80) or 198.18.0.2", "host 198.18.0.1 or port 80 or host 198.18.0.2"},
		{"port 80 and (host 198.18.0.1 or 198.18.0.2)", "(port 80 and host 198.18.0.1) or (port 80 and host 198.18.0.2)"},

		// Combinators: pcap's equal precedence, from the left.
		{"tcp or udp and port 53", "(tcp and port 53) or (udp and port 53)"},
		{"tcp or (udp and port 53)", "tcp or (udp and port 53)"},
		{"port 53 and tcp or udp", "(port 53 and tcp) or udp"},
		{"!tcp && !(udp||icmp)", "not tcp and not udp and not icmp"},
		{"not not tcp", "tcp"},
		{"not (tcp or udp)", "not tcp and not udp"},
		{"((tcp))", "tcp"},
		{"tcp&&port 1||udp", "(tcp and port 1) or udp"},

		// Simplification.
		{"tcp and tcp", "tcp"},
		{"tcp or tcp", "tcp"},
		{"tcp or (tcp and port 80)", "tcp"},
		{"(tcp and port 80) or tcp", "tcp"},
		{"udp and not tcp", "udp"},
		{"icmp and not port 53", "icmp"},
		{"ip6 and not host 198.18.0.1", "ip6"},
		{"host 198.18.0.1 and ip", "host 198.18.0.1"},
		{"src host 198.18.0.1 and src net 198.18.0.0/16", "src host 198.18.0.1"},
		{"host 198.18.0.1 and net 198.18.0.0/16", "host 198.18.0.1"},
		{"host 198.18.0.1 and src net 198.18.0.0/16", "host 198.18.0.1 and src net 198.18.0.0/16"}, // the host may be dst
		{"port 53 and portrange 1-100", "port 53"},
		{"src port 53 and portrange 1-100", "src port 53"},
		{"port 53 and src portrange 1-100", "port 53 and src portrange 1-100"},
		{"src port 53 and dst port 80", "src port 53 and dst port 80"},
		{"(tcp or udp or icmp) and tcp", "tcp"},
		{"(tcp or udp) and (tcp or icmp)", "tcp"},
		{"tcp and (port 80 or not tcp)", "tcp and port 80"},
		{"tcp or not tcp", "tcp or not tcp"},
		{"(port 1 or port 2 or port 3) and (host 1.1.1.1 or host 2.2.2.2) and icmp or tcp", "tcp"},
		{"(src port 1 or src port 2) and src port 2", "src port 2"},
	} {
		prog, err := Compile(tc.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.expr, err)
			continue
		}
		if got := prog.String(); got != tc.want {
			t.Errorf("Compile(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// TestCompilePreds pins the predicate values the BPF loader reads.
func TestCompilePreds(t *testing.T) {
	pfx := netip.MustParsePrefix
	for _, tc := range []struct {
		expr string
		want Program
	}{
		{"tcp", Program{{{Kind: Proto, Proto: 6}}}},
		{"not ip6", Program{{{Kind: Family, Family: 6, Negate: true}}}},
		{"host 198.18.0.1", Program{{{Kind: Net, Dir: Either, Prefix: pfx("198.18.0.1/32")}}}},
		{"dst host 2001:db8::5", Program{{{Kind: Net, Dir: Dst, Prefix: pfx("2001:db8::5/128")}}}},
		{"src net 198.18.9.9/15", Program{{{Kind: Net, Dir: Src, Prefix: pfx("198.18.0.0/15")}}}},
		{"not port 53", Program{{{Kind: Port, Dir: Either, Negate: true, PortLo: 53, PortHi: 53}}}},
		{"dst portrange 10-20", Program{{{Kind: Port, Dir: Dst, PortLo: 10, PortHi: 20}}}},
		{"host 2001:db8::5 and port 443", Program{{
			{Kind: Net, Dir: Either, Prefix: pfx("2001:db8::5/128")},
			{Kind: Port, Dir: Either, PortLo: 443, PortHi: 443}}}},
		{"tcp or udp", Program{{{Kind: Proto, Proto: 6}}, {{Kind: Proto, Proto: 17}}}},
	} {
		got, err := Compile(tc.expr)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Compile(%q) = %#v, %v\nwant %#v", tc.expr, got, err, tc.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	deep := strings.Repeat("(", maxDepth+1) + "tcp" + strings.Repeat(")", maxDepth+1)
	for _, tc := range []struct {
		expr string
		col  int
		msg  string // a substring of the message
	}{
		{"port http", 6, `expected a port number after "port", got "http"`},
		{"tcp and port http", 14, `expected a port number after "port", got "http"`},
		{"(tcp", 1, `"(" is never closed`},
		{"((tcp) or (udp)", 1, `"(" is never closed`},
		{"tcp)", 4, `")" has no "("`},
		{"(tcp udp)", 6, `expected "and", "or" or ")", got "udp"`},
		{"()", 2, "empty parentheses"},
		{"tcp and ()", 10, "empty parentheses"},
		{"src host", 9, `expected an address after "host", got end of filter`},
		{"src", 4, `after "src", got end of filter`},
		{"src or", 5, `after "src", got "or"`},
		{"src or src host 1.1.1.1", 5, `after "src", got "or"`},
		{"src and dst", 12, `after "src and dst", got end of filter`},
		{"src proto 6", 5, `"proto" takes no "src" or "dst"`},
		{"tcp and", 8, `expected a primitive after "and", got end of filter`},
		{"and tcp", 1, `expected a primitive, got "and"`},
		{"tcp && || udp", 8, `expected a primitive after "&&", got "||"`},
		{"not", 4, "got end of filter"},
		{"tcp udp", 5, `expected "and", "or" or the end of the filter, got "udp"`},
		{"tcp 80", 5, `got "80"`},
		{"tcp AND udp", 5, `got "AND" (keywords are lower case: "and")`},
		{"(tcp Or udp)", 6, `got "Or" (keywords are lower case: "or")`},
		{"host 1.2.3.4 & port 3", 14, `unexpected "&" (write "&&" or "and")`},
		{"tcp | udp", 5, `unexpected "|"`},
		{"tcp[13] & 2 != 0", 1, `packet byte expressions such as "tcp[13]" are not supported`},
		{"host 198.18.0.256", 6, "expected an IPv4 or IPv6 address"},
		{"host 198.18.0.0/16", 6, `(a network needs "net")`},
		{"host fe80::1%eth0", 6, "zoned address"},
		{"host example.com", 6, "expected an IPv4 or IPv6 address"},
		{"net 10.0.0.0/33", 5, "expected a network ADDR/LEN"},
		{"net 2001:db8::/129", 5, "expected a network ADDR/LEN"},
		{"net 10.1", 5, "shortened networks are not supported"},
		{"net 10.0.0.0/8 mask 255.0.0.0", 16, `"mask" cannot follow a network with a /length`},
		{"net 2001:db8:: mask 255.0.0.0", 16, `"mask" needs an IPv4 network`},
		{"net 10.0.0.0 mask 255.0.255.0", 19, "netmask 255.0.255.0 is not contiguous"},
		{"net 10.0.0.0 mask", 18, `expected an IPv4 netmask after "mask", got end of filter`},
		{"net 10.0.0.0 mask ffff::", 19, "expected an IPv4 netmask"},
		{"mask 255.0.0.0", 1, `"mask" must follow "net ADDR"`},
		{"port 65536", 6, "port 65536 is out of range (0-65535)"},
		{"port 99999999999999999999", 6, "out of range"},
		{"port -1", 6, "expected a port number"},
		{"port 080", 6, "leading zero"},
		{"port 0x50", 6, "expected a port number"},
		{"portrange 2000-1000", 11, "portrange 2000-1000 is reversed: 2000 > 1000"},
		{"portrange 80", 11, `expected a port range A-B after "portrange", got "80" (one word`},
		{"portrange 1000 - 2000", 11, "expected a port range A-B"},
		{"portrange 1-x", 11, `expected a port number after "portrange", got "1-x"`},
		{"portrange 1-70000", 11, "port 70000 is out of range"},
		{"proto 256", 7, "protocol 256 is out of range (0-255)"},
		{"proto tcp", 7, `expected a protocol number after "proto", got "tcp" (write "tcp" alone, or "proto 6")`},
		{"tcp host 198.18.0.1", 5, `"tcp" can only qualify port and portrange`},
		{"udp proto 6", 5, `"udp" can only qualify port and portrange`},
		{"icmp port 1", 6, `"icmp" has no ports`},
		{"ip6 host 198.18.0.1", 10, `"198.18.0.1" is an IPv4 address, but the qualifier "ip6 host" asks for IPv6`},
		{"ip net 2001:db8::/32", 8, "is an IPv6 address"},
		{"ip host 1.1.1.1 or ::1", 20, "is an IPv6 address"},
		{"TCP", 1, `keywords are lower case: "tcp"`},
		{"tcp or Port 80", 8, `keywords are lower case: "port"`},
		{"ether host 1", 1, `"ether" is not supported`},
		{"vlan", 1, `"vlan" is not supported`},
		{"esp", 1, `write "proto 50"`},
		{"foo", 1, `unknown primitive "foo"`},
		{"port 80 or foo", 12, `unknown primitive "foo"`},
		{"port 80 or 198.18.0.1", 12, `expected a port number (repeating "port" from column 1), got "198.18.0.1"`},
		{"tcp dst port 80 or 1.1.1.1", 20, `(repeating "tcp dst port" from column 1)`},
		{"80", 1, `a bare number needs a qualifier: "port 80" or "proto 80"`},
		{"198.18.0.1 or 80", 15, "a bare number needs a qualifier"},
		{"tcp and 80", 9, "a bare number needs a qualifier"},
		{"host 1.2.3.4 and é", 18, `unknown primitive "é"`}, // columns count runes
		{"host 1.2.3.4 and é1", 18, `(repeating "host" from column 1), got "é1"`},
		{"héllo", 1, `unknown primitive "héllo"`},
		{"tcp and \xff", 9, "unknown primitive"},
		{deep, maxDepth + 1, "nested too deeply"},
		{strings.Repeat("not ", maxDepth+1) + "tcp", 4*maxDepth + 1, "nested too deeply"},
		// Whole-expression errors have no column.
		{"tcp and udp", 0, "the expression matches no packet"},
		{"host 1.1.1.1 and not host 1.1.1.1", 0, "matches no packet"},
		{"(port 1 or port 2 or port 3) and (host 1.1.1.1 or host 2.2.2.2 or host 3.3.3.3)", 0,
			"too complex: 9 alternatives after expansion, at most 8"},
		{"not port 1 and not port 2 and not port 3 and not port 4 and not port 5 and not port 6 and not port 7 and not port 8 and not port 9", 0,
			`too complex: the alternative "not port 1 and`},
		{manyOrs(12), 0, "too complex: over 64 alternatives"},
	} {
		_, err := Compile(tc.expr)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Compile(%q) = %v, want an *Error", tc.expr, err)
			continue
		}
		if fe.Col != tc.col || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("Compile(%q):\n got %v\nwant column %d: ...%s...", tc.expr, err, tc.col, tc.msg)
		}
	}
}

// manyOrs is n factors "(port A or port B)" ANDed: 2^n alternatives.
func manyOrs(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("(port %d or port %d)", 2*i, 2*i+1)
	}
	return strings.Join(parts, " and ")
}

func TestErrorString(t *testing.T) {
	_, err := Compile("tcp and port http")
	if got, want := err.Error(), `filter: column 14: expected a port number after "port", got "http"`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	_, err = Compile("tcp and udp")
	if got := err.Error(); !strings.HasPrefix(got, "filter: the expression matches no packet") {
		t.Errorf("got %s", got)
	}
}

func TestLexer(t *testing.T) {
	var got []string
	for _, tok := range lex("(tcp&&!udp)||not\tsrc 2001:db8::/32 é!") {
		got = append(got, tok.text+"@"+string(rune('0'+tok.col%10)))
	}
	want := []string{"(@1", "tcp@2", "&&@5", "!@7", "udp@8", ")@1", "||@2", "not@4", "src@8",
		"2001:db8::/32@2", "é@6", "!@7", "@8"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lex = %q\nwant  %q", got, want)
	}
}
