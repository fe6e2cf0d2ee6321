package hookplan

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Symbols is the set of kernel function names, from /proc/kallsyms.
type Symbols map[string]bool

// ReadSymbols parses kallsyms text ("addr type name [module]").
func ReadSymbols(r io.Reader) (Symbols, error) {
	syms := Symbols{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || (f[1] != "t" && f[1] != "T") {
			continue
		}
		syms[f[2]] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kallsyms: %w", err)
	}
	return syms, nil
}

// LoadSymbols reads the running kernel's symbols.
func LoadSymbols() (Symbols, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadSymbols(f)
}

// Resolve finds the kernel's spelling of a function: the name itself, or a
// compiler-made local copy of it ("__netif_receive_skb_core.constprop.0").
// Alternatives are separated by "|" ("napi_gro_receive|gro_receive_skb").
func (s Symbols) Resolve(target string) (string, bool) {
	for _, name := range strings.Split(target, "|") {
		if s[name] {
			return name, true
		}
	}
	for _, name := range strings.Split(target, "|") {
		best := ""
		for sym := range s {
			if strings.HasPrefix(sym, name+".") && (best == "" || sym < best) {
				best = sym
			}
		}
		if best != "" {
			return best, true
		}
	}
	return "", false
}
