package filter

import (
	"fmt"
	"net/netip"
)

// The BPF rule table's dimensions (MAX_RULES, MAX_PREDS in bpf/lib/config.h).
const (
	MaxRules = 8
	MaxPreds = 8
)

// Dir names the ends of a flow a Net or Port predicate looks at. It is a
// bit set so the BPF side can test each end with one AND.
type Dir uint8

const (
	Src    Dir = 1
	Dst    Dir = 2
	Either Dir = Src | Dst // either end matches
)

// Kind is what a predicate tests. The zero Kind is invalid, so a zero Pred
// never passes for a real one.
type Kind uint8

const (
	Proto  Kind = iota + 1 // the IP protocol number
	Family                 // IPv4 or IPv6
	Net                    // an address of the packet's family in a prefix
	Port                   // a port in a range, TCP/UDP/UDP-Lite/SCTP only
)

// Pred is one primitive test, possibly negated. Only the fields of its Kind
// are set; the others are zero, so Preds compare with ==.
type Pred struct {
	Kind   Kind
	Dir    Dir // Net and Port only
	Negate bool

	Proto  uint8        // Kind Proto: IP protocol number
	Family uint8        // Kind Family: 4 or 6
	Prefix netip.Prefix // Kind Net: masked; host X is X/32 or X/128

	// Kind Port: inclusive range; "port N" is N..N. False for packets
	// that are not TCP, UDP, UDP-Lite or SCTP (and so true when negated).
	PortLo, PortHi uint16
}

// Rule is a conjunction: it holds if all its predicates do.
type Rule []Pred

// Program is a disjunction of rules: it matches if any rule holds. A nil
// or empty Program matches every packet.
type Program []Rule

// Error is a compile error. Col is the 1-based column (counted in runes) of
// the token at fault, so a caller can draw a caret under it; a column one
// past the end means the expression ended too early. Col is 0 for errors
// about the expression as a whole (too complex, matches nothing).
type Error struct {
	Col int
	Msg string
}

func (e *Error) Error() string {
	if e.Col > 0 {
		return fmt.Sprintf("filter: column %d: %s", e.Col, e.Msg)
	}
	return "filter: " + e.Msg
}

// Compile parses expr (see the package documentation for the syntax) and
// compiles it to a Program. An empty or all-blank expr is the nil Program,
// which matches everything. Errors are *Error.
func Compile(expr string) (Program, error) {
	tree, err := parse(expr)
	if err != nil {
		return nil, err
	}
	if tree == nil {
		return nil, nil
	}
	return compileTree(tree)
}
