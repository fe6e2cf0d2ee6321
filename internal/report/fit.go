package report

import (
	"strings"
	"unicode/utf8"
)

const (
	// funnelSep joins the stages of a flow's funnel line.
	funnelSep = " → "
	// partSep joins the parts of a header line ("conn 1  udp ...  netns
	// 7  (local-in)"), breaking there is better than between words.
	partSep = "  "
	// minFitWidth is the narrowest width lines are fitted to: narrower, a
	// continuation's indent would leave no room.
	minFitWidth = 20
)

// word is a piece of a line that is never broken (unless longer than a
// whole line), and what joins it to the piece before it on one line.
type word struct{ text, sep string }

// fitLine breaks one line of the text report into lines of at most width
// runes, so that a terminal never wraps it mid-word: a funnel line between
// its stages (the next line starts with "→"), any other line between its
// parts, else between words. Continuation lines are indented two more
// than the line. A word longer than a whole line is cut.
func fitLine(line string, width int) []string {
	if width < minFitWidth || utf8.RuneCountInString(line) <= width {
		return []string{line}
	}
	body := strings.TrimLeft(line, " ")
	indent := line[:len(line)-len(body)]
	more := indent + "  "
	if strings.Contains(body, funnelSep) {
		return fitWords(indent, more+"→ ", split(body, funnelSep), width)
	}
	var words []word
	for _, part := range strings.Split(body, partSep) {
		if utf8.RuneCountInString(more+part) <= width {
			words = append(words, word{part, partSep})
			continue
		}
		for i, w := range split(part, " ") {
			if i == 0 {
				w.sep = partSep
			}
			words = append(words, w)
		}
	}
	return fitWords(indent, more, words, width)
}

// fitItems lays items out in lines of at most width runes, two spaces
// apart, breaking only between items.
func fitItems(items []string, width int) []string {
	words := make([]word, len(items))
	for i, it := range items {
		words[i] = word{it, partSep}
	}
	if width < minFitWidth {
		width = int(^uint(0) >> 1) // no terminal width: one line
	}
	return fitWords("", "  ", words, width)
}

// split cuts s at every sep into words joined by sep.
func split(s, sep string) []word {
	var out []word
	for _, w := range strings.Split(s, sep) {
		out = append(out, word{w, sep})
	}
	return out
}

// fitWords fills lines of at most width runes with words: the first line
// starts with first, the others with more.
func fitWords(first, more string, words []word, width int) []string {
	var out []string
	cur, fresh := first, true // fresh: nothing on cur but its start
	for _, w := range words {
		switch {
		case fresh:
			cur += w.text
		case utf8.RuneCountInString(cur)+utf8.RuneCountInString(w.sep)+utf8.RuneCountInString(w.text) <= width:
			cur += w.sep + w.text
		default:
			out = append(out, cur)
			cur = more + w.text
		}
		fresh = false
		for utf8.RuneCountInString(cur) > width {
			head, rest := cutRunes(cur, width)
			out = append(out, head)
			cur = more + rest
		}
	}
	return append(out, cur)
}

// cutRunes splits s after n runes.
func cutRunes(s string, n int) (string, string) {
	i := 0
	for n > 0 && i < len(s) {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n--
	}
	return s[:i], s[i:]
}
