package filter

import "fmt"

type tokKind uint8

const (
	tEOF tokKind = iota
	tWord
	tLParen
	tRParen
	tNot
	tAnd
	tOr
	tBad // a character no token starts with; msg says why
)

// token is one lexeme. Words are kept as written: whether a word is a
// keyword, an address or a number depends on where it stands, and error
// messages quote it verbatim.
type token struct {
	kind tokKind
	text string
	col  int    // 1-based, in runes: what a terminal caret lines up with
	msg  string // tBad: the complaint, reported when the parser reaches it
}

// describe quotes a token for an error message.
func (t token) describe() string {
	if t.kind == tEOF {
		return "end of filter"
	}
	return fmt.Sprintf("%q", t.text)
}

// isSpace is the blank set of pcap's lexer.
func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// isPunct ends a word. Everything else (letters, digits, '.', ':', '/',
// '-', and any junk) belongs to words, so "2001:db8::/32" and "1-1024" are
// single words and a stray character shows up inside the word the parser
// then rejects, with that word's column.
func isPunct(r rune) bool { return r == '(' || r == ')' || r == '!' || r == '&' || r == '|' }

// lex splits s into tokens, ending with a tEOF one column past the end.
// It never fails: a bad character becomes a tBad token, so an error
// earlier in the expression (tcp[13] & 2) is reported first, as the reader
// would read it.
func lex(s string) []token {
	rs := []rune(s) // invalid UTF-8 becomes U+FFFD: one column per byte, and never a keyword
	var toks []token
	for i := 0; i < len(rs); {
		r, col := rs[i], i+1
		switch {
		case isSpace(r):
			i++
		case r == '(':
			toks = append(toks, token{kind: tLParen, text: "(", col: col})
			i++
		case r == ')':
			toks = append(toks, token{kind: tRParen, text: ")", col: col})
			i++
		case r == '!':
			toks = append(toks, token{kind: tNot, text: "!", col: col})
			i++
		case r == '&' || r == '|':
			kind, word := tAnd, "and"
			if r == '|' {
				kind, word = tOr, "or"
			}
			if i+1 >= len(rs) || rs[i+1] != r {
				// pcap's & and | are bitwise operators of byte
				// expressions, which this filter does not have.
				toks = append(toks, token{kind: tBad, text: string(r), col: col,
					msg: fmt.Sprintf("unexpected %q (write %q or %q)", string(r), string([]rune{r, r}), word)})
				i++
				continue
			}
			toks = append(toks, token{kind: kind, text: string(rs[i : i+2]), col: col})
			i += 2
		default:
			j := i
			for j < len(rs) && !isSpace(rs[j]) && !isPunct(rs[j]) {
				j++
			}
			w := string(rs[i:j])
			kind := tWord
			switch w {
			case "and":
				kind = tAnd
			case "or":
				kind = tOr
			case "not":
				kind = tNot
			}
			toks = append(toks, token{kind: kind, text: w, col: col})
			i = j
		}
	}
	return append(toks, token{kind: tEOF, col: len(rs) + 1})
}
