package filter

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestZZPick(t *testing.T) {
	dir := os.Getenv("PICK_DIR")
	if dir == "" {
		t.Skip()
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	best := map[string][2]string{}
	norm := regexp.MustCompile(`"[^"]*"|[0-9]+`)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines := strings.SplitN(string(b), "\n", 3)
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
		if err != nil {
			continue
		}
		prog, err := Compile(s)
		class := ""
		if err != nil {
			class = "err:" + norm.ReplaceAllString(err.(*Error).Msg, "_")
		} else {
			kinds := map[string]bool{}
			for _, r := range prog {
				for _, p := range r {
					kinds[fmt.Sprintf("%d/%v/%d", p.Kind, p.Negate, p.Dir)] = true
				}
			}
			class = fmt.Sprintf("ok:%d:%d", min(len(prog), 3), len(kinds))
		}
		if cur, ok := best[class]; !ok || len(s) < len(cur[0]) {
			best[class] = [2]string{s, f}
		}
	}
	var keys []string
	for k := range best {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%-70.70s %q %s\n", k, best[k][0], filepath.Base(best[k][1]))
	}
}
