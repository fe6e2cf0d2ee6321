package main

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

// kubeTables splits iptables-restore text into table → chains declared
// and table → rules (-A lines), checking the framing on the way.
func kubeTables(t *testing.T, text string) (chains map[string]map[string]bool, rules map[string][]string) {
	t.Helper()
	chains, rules = map[string]map[string]bool{}, map[string][]string{}
	table := ""
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			if table != "" {
				t.Fatalf("line %d: table %s opened inside %s", i+1, l, table)
			}
			table = l[1:]
			chains[table] = map[string]bool{}
		case l == "COMMIT":
			table = ""
		case table == "":
			t.Fatalf("line %d outside a table: %q", i+1, l)
		case strings.HasPrefix(l, ":"):
			chains[table][strings.Fields(l)[0][1:]] = true
		case strings.HasPrefix(l, "-A "):
			rules[table] = append(rules[table], l)
		default:
			t.Fatalf("line %d: %q", i+1, l)
		}
	}
	if table != "" {
		t.Fatalf("table %s not committed", table)
	}
	return chains, rules
}

var builtinChains = map[string]bool{"INPUT": true, "OUTPUT": true, "FORWARD": true, "PREROUTING": true, "POSTROUTING": true}

func TestKubeRulesetShape(t *testing.T) {
	k := kubeShape{Services: 30, NodePortEvery: 10, NoEndpointsEvery: 5}
	text := k.ruleset()
	chains, rules := kubeTables(t, text)

	// services 4, 9, …, 29 have no endpoints: 6 of 30
	withEps, eps := 0, 0
	for svc := 0; svc < k.Services; svc++ {
		if e := k.endpointsOf(svc); e > 0 {
			withEps++
			eps += e
		}
	}
	if withEps != 24 {
		t.Fatalf("%d services with endpoints, want 24", withEps)
	}
	// nat: 7 fixed rules, the final node-port jump; per service a jump
	// from KUBE-SERVICES, a masquerade mark and a rule per endpoint in
	// its KUBE-SVC chain; per endpoint 2 rules in its KUBE-SEP chain; per
	// node port (services 0, 10, 20 have endpoints) 2 rules
	wantNat := 7 + 1 + withEps*2 + eps*3 + 3*2
	// filter: 15 fixed rules, a REJECT per service without endpoints
	wantFilter := 15 + 6
	if len(rules["nat"]) != wantNat || len(rules["filter"]) != wantFilter {
		t.Errorf("rules: nat %d filter %d, want %d and %d", len(rules["nat"]), len(rules["filter"]), wantNat, wantFilter)
	}
	if got := countRules(text); got != wantNat+wantFilter {
		t.Errorf("countRules = %d, want %d", got, wantNat+wantFilter)
	}

	// Every jump goes to a declared chain (or a built-in target), and
	// every declared chain is jumped to: no dangling or dead chains.
	jump := regexp.MustCompile(` -j ([A-Z][A-Z0-9-]*)`)
	targets := map[string]bool{"ACCEPT": true, "DROP": true, "RETURN": true, "REJECT": true, "MARK": true, "DNAT": true, "MASQUERADE": true}
	for table, rs := range rules {
		used := map[string]bool{}
		for _, r := range rs {
			m := jump.FindStringSubmatch(r)
			if m == nil {
				t.Errorf("%s: rule without a target: %s", table, r)
				continue
			}
			used[m[1]] = true
			if !chains[table][m[1]] && !targets[m[1]] {
				t.Errorf("%s: jump to undeclared chain: %s", table, r)
			}
			if from := strings.Fields(r)[1]; !chains[table][from] && !builtinChains[from] {
				t.Errorf("%s: rule in undeclared chain: %s", table, r)
			}
		}
		for c := range chains[table] {
			// kube-proxy declares these in filter whether or not it uses them
			if !used[c] && c != "KUBE-EXTERNAL-SERVICES" && c != "KUBE-NODEPORTS" && c != "KUBE-PROXY-FIREWALL" {
				t.Errorf("%s: chain %s declared but never jumped to", table, c)
			}
		}
	}

	// The kube-proxy shape: a KUBE-SVC chain per service with endpoints,
	// reached from KUBE-SERVICES by its VIP; a KUBE-SEP chain per
	// endpoint ending in a DNAT; the node-port jump last.
	var svcChains, sepChains int
	for c := range chains["nat"] {
		switch {
		case strings.HasPrefix(c, "KUBE-SVC-"):
			svcChains++
		case strings.HasPrefix(c, "KUBE-SEP-"):
			sepChains++
		}
		if len(c) > 28 {
			t.Errorf("chain name %s longer than iptables' 28 characters", c)
		}
	}
	if svcChains != withEps || sepChains != eps {
		t.Errorf("%d KUBE-SVC and %d KUBE-SEP chains, want %d and %d", svcChains, sepChains, withEps, eps)
	}
	dnat := 0
	for _, r := range rules["nat"] {
		if strings.HasPrefix(r, "-A KUBE-SEP-") && strings.Contains(r, "-j DNAT --to-destination ") {
			dnat++
		}
	}
	if dnat != eps {
		t.Errorf("%d DNAT rules, want one per endpoint (%d)", dnat, eps)
	}
	var last string
	for _, r := range rules["nat"] {
		if strings.HasPrefix(r, "-A KUBE-SERVICES ") {
			last = r
		}
	}
	if !strings.Contains(last, "--dst-type LOCAL -j KUBE-NODEPORTS") {
		t.Errorf("last KUBE-SERVICES rule is not the node-port jump: %s", last)
	}
	// a service's endpoints are picked with probabilities 1/n, 1/(n-1), …
	if !strings.Contains(text, "--probability 0.33333333333 -j ") || !strings.Contains(text, "--probability 0.50000000000 -j ") {
		t.Error("no random endpoint choice among 3 endpoints")
	}
	// conntrack is what the realistic host is about
	if !strings.Contains(text, "-m conntrack --ctstate") {
		t.Error("no conntrack match")
	}
}

// TestKubeRulesetAddresses: only the documentation ranges the project may
// use (and loopback, in KUBE-FIREWALL's rule); never the measured
// traffic's 198.18.200.0/24, nor ports 5201 and 9000, so every rule
// misses it.
func TestKubeRulesetAddresses(t *testing.T) {
	text := defaultKubeShape.ruleset()
	allowed := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("127.0.0.0/8")}
	traffic := netip.MustParsePrefix("198.18.200.0/24")
	addr := regexp.MustCompile(`\d+\.\d+\.\d+\.\d+(/\d+)?`)
	n := 0
	for _, a := range addr.FindAllString(text, -1) {
		n++
		if !strings.Contains(a, "/") {
			a += "/32"
		}
		p, err := netip.ParsePrefix(a)
		if err != nil {
			t.Errorf("unparsable address %q", a)
			continue
		}
		ok := false
		for _, al := range allowed {
			if al.Bits() <= p.Bits() && al.Contains(p.Addr()) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("address %s outside 198.18.0.0/15, 2001:db8::/32 and loopback", a)
		}
		if p.Overlaps(traffic) && p.Bits() >= traffic.Bits() {
			t.Errorf("address %s is the measured traffic's", a)
		}
	}
	if n < 1000 {
		t.Errorf("only %d addresses: not a node's worth of services", n)
	}
	for _, port := range []string{iperfPrt, udpPort} {
		if strings.Contains(text, "--dport "+port+" ") {
			t.Errorf("a rule matches the measured port %s", port)
		}
	}
	// "a few thousand rules": the default shape is what the results say
	if r := countRules(text); r < 3000 || r > 6000 {
		t.Errorf("default shape has %d rules, want a few thousand", r)
	}
}

func TestParseHosts(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"bare", "bare", ""},
		{"bare,realistic", "bare realistic", ""},
		{" realistic , bare,realistic", "realistic bare", ""},
		{"", "", "--hosts: empty list (valid: bare, realistic)"},
		{"bare,kube", "", `--hosts: unknown host shape "kube" (valid: bare, realistic)`},
	} {
		got, err := parseHosts(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseHosts(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("parseHosts(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}
