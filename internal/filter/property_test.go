package filter

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// atoms are primitives over a small universe of addresses, ports and
// protocols, so random packets hit them often. Some carry pcap's implicit
// qualifier repetition; all parse wherever they stand.
var atoms = []string{
	"tcp", "udp", "icmp", "icmp6", "sctp", "ip", "ip6", "proto 47", "proto 136",
	"ip proto 17", "ip6 proto 58",
	"host 10.0.0.1", "src host 10.0.0.2", "dst host 10.0.0.1", "src or dst host 10.0.0.3",
	"src and dst host 10.0.0.1", "net 10.0.0.0/30", "dst net 10.0.0.0/8", "src net 10.0.0.0 mask 255.255.255.254",
	"ip host 10.0.0.2", "src 10.0.0.0/31", "dst 2001:db8::1",
	"host 2001:db8::1", "dst host 2001:db8::2", "net 2001:db8::/32", "src net 2001:db8::/127",
	"ip6 src host 2001:db8::1", "src and dst net 2001:db8::/126",
	"port 53", "src port 80", "dst port 443", "portrange 50-60", "dst portrange 1-1024",
	"src and dst port 53", "src portrange 53-80", "port 0",
	"tcp port 80", "udp dst port 53", "sctp src portrange 1000-2000", "ip port 53", "ip6 dst port 443",
	"port 53 or 80", "host 10.0.0.1 or 10.0.0.2", "tcp dst port 80 or 443 or 53", "dst net 10.0.0.0/8 and not 10.0.0.0/31",
}

// randomExpr writes a random expression of nesting at most depth, with
// pcap's spellings of the combinators and optional blanks around
// parentheses and "!".
func randomExpr(rng *rand.Rand, depth int) string {
	if depth == 0 || rng.IntN(3) == 0 {
		return atoms[rng.IntN(len(atoms))]
	}
	sp := func() string { return []string{"", " "}[rng.IntN(2)] }
	switch rng.IntN(6) {
	case 0:
		return []string{"not ", "!"}[rng.IntN(2)] + randomExpr(rng, depth-1)
	case 1:
		return "(" + sp() + randomExpr(rng, depth-1) + sp() + ")"
	case 2, 3:
		op := []string{" and ", " && ", "&&"}[rng.IntN(3)]
		return randomExpr(rng, depth-1) + op + randomExpr(rng, depth-1)
	default:
		op := []string{" or ", " || ", "||"}[rng.IntN(3)]
		return randomExpr(rng, depth-1) + op + randomExpr(rng, depth-1)
	}
}

// TestDNFPreservesMeaning compares the compiled rule table with the parse
// tree on random expressions and packets.
func TestDNFPreservesMeaning(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 4000
	if testing.Short() {
		n = 500
	}
	var ok, complex, nothing int
	for range n {
		expr := randomExpr(rng, 5)
		tree, err := parse(expr)
		if err != nil {
			t.Fatalf("parse(%q): %v", expr, err)
		}
		prog, err := Compile(expr)
		switch {
		case err == nil:
			ok++
		case strings.Contains(err.Error(), "too complex"):
			complex++
		default:
			nothing++
		}
		checkCompiled(t, expr, tree, prog, err, packetsFor(tree, rng, 300))
	}
	t.Logf("%d expressions: %d compiled, %d too complex, %d match nothing", n, ok, complex, nothing)
	if ok < n/2 {
		t.Errorf("only %d of %d random expressions compiled: the test proves little", ok, n)
	}
}

// TestMatchEquivalentOnAllCombinations is exhaustive over a tiny packet
// space for a few expressions that exercise every simplification rule.
func TestMatchEquivalentOnAllCombinations(t *testing.T) {
	addrs4 := []string{"10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "11.0.0.0"}
	addrs6 := []string{"2001:db8::", "2001:db8::1", "2001:db9::"}
	ports := []uint16{0, 52, 53, 54, 80}
	protos := []uint8{icmp, tcp, udp, icmp6, sctp, udplite, gre}
	var pkts []Packet
	for _, proto := range protos {
		for _, sp := range ports {
			for _, dp := range ports {
				for _, as := range [][]string{addrs4, addrs6} {
					for _, s := range as {
						for _, d := range as {
							pkts = append(pkts, pkt(proto, s, sp, d, dp))
						}
					}
				}
			}
		}
	}
	for _, expr := range []string{
		"(tcp or udp or icmp) and (udp or not port 53) and (ip or not icmp6)",
		"(src net 10.0.0.0/31 or dst net 10.0.0.2/31) and (src host 10.0.0.1 or not dst host 10.0.0.3)",
		"(src port 53 or dst portrange 52-54) and not (src portrange 0-52 or dst port 80)",
		"not (ip6 and net 2001:db8::/32) and (icmp6 or host 10.0.0.1 or net 2001:db9::/32)",
		"(src and dst net 10.0.0.0/30 or src and dst host 2001:db8::) and not (src host 10.0.0.0 or port 0)",
		"(not sctp or port 53) and (not tcp or port 80) and (not udp or not port 53)",
		"src net 10.0.0.0/30 and not src net 10.0.0.0/31 and not dst net 10.0.0.2/31",
		"(ip or ip6) and (host 10.0.0.1 or host 2001:db8::1) and not (ip and net 2001:db8::/32)",
	} {
		tree, err := parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := Compile(expr)
		checkCompiled(t, expr, tree, prog, err, pkts)
	}
}
