package filter

import (
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCompile: Compile never panics, fails only with an *Error whose column
// lies within the input (or one past it), and whatever compiles means on
// packets what its parse tree means. Seeds are in testdata/fuzz/FuzzCompile.
func FuzzCompile(f *testing.F) {
	f.Fuzz(func(t *testing.T, expr string) {
		prog, err := Compile(expr)
		var fe *Error
		if err != nil {
			if !errors.As(err, &fe) {
				t.Fatalf("Compile(%q) = %v, not an *Error", expr, err)
			}
			if fe.Col < 0 || fe.Col > utf8.RuneCountInString(expr)+1 {
				t.Fatalf("Compile(%q): column %d outside the input: %v", expr, fe.Col, err)
			}
			if !strings.HasPrefix(err.Error(), "filter: ") || fe.Msg == "" {
				t.Fatalf("Compile(%q): bad message %q", expr, err.Error())
			}
		}
		tree, perr := parse(expr)
		if (perr != nil) != (fe != nil && fe.Col > 0) {
			t.Fatalf("parse(%q) = %v but Compile says %v: column errors must come from the parser", expr, perr, err)
		}
		if perr != nil {
			return
		}
		h := fnv.New64a()
		h.Write([]byte(expr))
		rng := rand.New(rand.NewPCG(h.Sum64(), 1))
		checkCompiled(t, expr, tree, prog, err, packetsFor(tree, rng, 64))
	})
}
