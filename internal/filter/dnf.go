package filter

import (
	"fmt"
	"net/netip"
	"slices"
)

// Working limits while expanding. Simplification can shrink an expansion
// again ("(tcp or udp or icmp) and tcp" is one rule), so the intermediate
// results may be larger than the table; these bounds only stop hostile
// input from growing the work exponentially.
const (
	maxWorkRules   = 8 * MaxRules
	maxWorkProduct = 4 * maxWorkRules // before dropping implied rules
	maxWorkPreds   = 4 * MaxPreds
)

// compileTree expands the parse tree to the rule table.
func compileTree(n node) (Program, error) {
	rules, err := dnf(n, false)
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		// The empty Program means "everything", the opposite. pcap
		// refuses such a filter too ("expression rejects all packets").
		return nil, &Error{Msg: "the expression matches no packet (it contradicts itself)"}
	}
	if len(rules) > MaxRules {
		return nil, &Error{Msg: fmt.Sprintf("too complex: %d alternatives after expansion, at most %d "+
			`(each "or" inside an "and" multiplies them; a portrange or a wider net can replace several)`,
			len(rules), MaxRules)}
	}
	for _, r := range rules {
		if len(r) > MaxPreds {
			return nil, &Error{Msg: fmt.Sprintf("too complex: the alternative %q needs %d conditions, at most %d",
				r.String(), len(r), MaxPreds)}
		}
	}
	return Program(rules), nil
}

// dnf expands n, negated if neg, to simplified rules: "not" is pushed to
// the leaves with De Morgan's laws on the way down, so no negated subtree
// is ever built. An empty result is false.
func dnf(n node, neg bool) ([]Rule, error) {
	switch n := n.(type) {
	case leafNode:
		return []Rule{{n.p.negated(neg)}}, nil
	case notNode:
		return dnf(n.x, !neg)
	case andNode:
		return combine(n.l, n.r, neg, !neg) // not (a and b) = not a or not b
	case orNode:
		return combine(n.l, n.r, neg, neg) // not (a or b) = not a and not b
	}
	return nil, &Error{Msg: fmt.Sprintf("internal error: unexpected node %T", n)}
}

// combine expands l and r (negated if neg) and joins them: the cross
// product of their rules if conj, else the union.
func combine(l, r node, neg, conj bool) ([]Rule, error) {
	a, err := dnf(l, neg)
	if err != nil {
		return nil, err
	}
	b, err := dnf(r, neg)
	if err != nil {
		return nil, err
	}
	var out []Rule
	if conj {
		for _, x := range a {
			for _, y := range b {
				if rule, ok := simplifyRule(slices.Concat(x, y)); ok {
					out = append(out, rule)
				}
			}
		}
	} else {
		out = slices.Concat(a, b)
	}
	// Check before simplifyRules, which is quadratic in the rules: a
	// product of two large sets must not get that far.
	if len(out) > maxWorkProduct {
		return nil, tooManyWorkRules()
	}
	for _, rule := range out {
		if len(rule) > maxWorkPreds {
			return nil, &Error{Msg: fmt.Sprintf("too complex: an alternative needs over %d conditions, at most %d", maxWorkPreds, MaxPreds)}
		}
	}
	out = simplifyRules(out)
	if len(out) > maxWorkRules {
		return nil, tooManyWorkRules()
	}
	return out, nil
}

func tooManyWorkRules() *Error {
	return &Error{Msg: fmt.Sprintf("too complex: over %d alternatives after expansion, at most %d", maxWorkRules, MaxRules)}
}

// simplifyRule drops duplicate and implied predicates; ok is false if the
// rule can never hold (it contains p and something that excludes p).
func simplifyRule(r Rule) (Rule, bool) {
	out := make(Rule, 0, len(r))
	for _, p := range r {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if implies(out[i], out[j].negated(true)) {
				return nil, false
			}
		}
	}
	// Removing one implied predicate at a time keeps the rule equivalent
	// even when two predicates imply each other: the first one stays.
	for i := len(out) - 1; i >= 0; i-- {
		for j := range out {
			if j != i && implies(out[j], out[i]) {
				out = slices.Delete(out, i, i+1)
				break
			}
		}
	}
	return out, true
}

// simplifyRules drops rules that imply another rule: a or b is b when a
// implies b (this also drops duplicates, keeping the first).
func simplifyRules(rs []Rule) []Rule {
	for i := len(rs) - 1; i >= 0; i-- {
		for j := range rs {
			if j != i && ruleImplies(rs[i], rs[j]) {
				rs = slices.Delete(rs, i, i+1)
				break
			}
		}
	}
	return rs
}

// ruleImplies reports whether a implies b, as far as single predicates
// show: every predicate of b follows from one of a.
func ruleImplies(a, b Rule) bool {
	for _, q := range b {
		if !slices.ContainsFunc(a, func(p Pred) bool { return implies(p, q) }) {
			return false
		}
	}
	return true
}

func (p Pred) negated(neg bool) Pred {
	p.Negate = p.Negate != neg
	return p
}

// implies reports whether p being true makes q true for every packet, as
// Match evaluates them. It must never say yes wrongly (the property tests
// check the rules it simplifies against the parse tree); saying no only
// costs a simplification.
func implies(p, q Pred) bool {
	return p == q || impliesFrom(p, q) || impliesFrom(q.negated(true), p.negated(true))
}

// impliesFrom knows the facts for a positive p; implies gets the rest by
// contraposition.
func impliesFrom(p, q Pred) bool {
	if p.Negate {
		return false
	}
	switch p.Kind {
	case Proto:
		switch q.Kind {
		case Proto: // one protocol excludes the others
			return q.Negate && q.Proto != p.Proto
		case Port: // port predicates are false for other protocols
			return q.Negate && !isPortProto(p.Proto)
		}
	case Family:
		switch q.Kind {
		case Family:
			return q.Negate && q.Family != p.Family
		case Net: // a prefix only matches packets of its own family
			return q.Negate && netFamily(q.Prefix) != p.Family
		}
	case Net:
		f := netFamily(p.Prefix)
		switch q.Kind {
		case Family:
			return (q.Family == f) != q.Negate
		case Net:
			if netFamily(q.Prefix) != f {
				return q.Negate
			}
			if !q.Negate { // a narrower prefix on fewer ends
				return p.Dir&^q.Dir == 0 && q.Prefix.Bits() <= p.Prefix.Bits() && q.Prefix.Contains(p.Prefix.Addr())
			}
			// One end cannot be in two disjoint prefixes.
			return oneEnd(p.Dir) && p.Dir == q.Dir && !p.Prefix.Overlaps(q.Prefix)
		}
	case Port:
		switch q.Kind {
		case Proto:
			return q.Negate && !isPortProto(q.Proto)
		case Port:
			if !q.Negate {
				return p.Dir&^q.Dir == 0 && q.PortLo <= p.PortLo && p.PortHi <= q.PortHi
			}
			return oneEnd(p.Dir) && p.Dir == q.Dir && (p.PortHi < q.PortLo || q.PortHi < p.PortLo)
		}
	}
	return false
}

func oneEnd(d Dir) bool { return d == Src || d == Dst }

// netFamily is the address family (4 or 6) a prefix matches.
func netFamily(p netip.Prefix) uint8 {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}
