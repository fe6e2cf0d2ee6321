// Package kallsyms reads the kernel's symbol table: to find how this kernel
// spells a function (hook plan) and to name code addresses (drop locations,
// stacks) as func+0xoff.
package kallsyms

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// maxFuncSize is larger than any kernel function; an address further than
// this from the symbol before it is not in that symbol.
const maxFuncSize = 1 << 20

type symbol struct {
	addr uint64
	name string
}

// Table is the kernel's text symbols.
type Table struct {
	names  map[string]bool
	sorted []symbol // by address
}

// Read parses kallsyms text ("addr type name [module]"), keeping text
// (function) symbols only.
func Read(r io.Reader) (*Table, error) {
	t := &Table{names: map[string]bool{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || (f[1] != "t" && f[1] != "T") {
			continue
		}
		t.names[f[2]] = true
		if addr, err := strconv.ParseUint(f[0], 16, 64); err == nil && addr != 0 {
			t.sorted = append(t.sorted, symbol{addr, f[2]})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kallsyms: %w", err)
	}
	sort.Slice(t.sorted, func(i, j int) bool { return t.sorted[i].addr < t.sorted[j].addr })
	return t, nil
}

// Load reads the running kernel's /proc/kallsyms.
func Load() (*Table, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f)
}

// Resolve finds the kernel's spelling of a function: the name itself, or a
// compiler-made local copy of it ("__netif_receive_skb_core.constprop.0").
func (t *Table) Resolve(name string) (string, bool) {
	if t.names[name] {
		return name, true
	}
	best := ""
	for sym := range t.names {
		if strings.HasPrefix(sym, name+".") && (best == "" || sym < best) {
			best = sym
		}
	}
	if best != "" {
		return best, true
	}
	return "", false
}

// Symbolize names a code address as "func+0xoff"; ok is false when no
// symbol covers it (addresses hidden by kptr_restrict read as 0).
func (t *Table) Symbolize(addr uint64) (fn string, off uint64, ok bool) {
	i := sort.Search(len(t.sorted), func(i int) bool { return t.sorted[i].addr > addr })
	if i == 0 || addr == 0 {
		return "", 0, false
	}
	s := t.sorted[i-1]
	if addr-s.addr > maxFuncSize {
		// Past the last symbol of a region: BPF programs, modules
		// loaded later.
		return "", 0, false
	}
	return s.name, addr - s.addr, true
}

// Format is Symbolize as text: "nf_hook_slow+0x9b", or the bare address.
func (t *Table) Format(addr uint64) string {
	if fn, off, ok := t.Symbolize(addr); ok {
		return fmt.Sprintf("%s+0x%x", fn, off)
	}
	return fmt.Sprintf("0x%x", addr)
}
