package hookplan

import (
	"os"
	"strings"
	"testing"

	"github.com/dropspot/dropspot/internal/stage"
)

// ARCHITECTURE.md's stage table lists, per stage, exactly the candidates
// Candidates() tries, in order, under their Name(): a hook added, dropped
// or reordered in code without the document (or the reverse) fails here.
func TestArchitectureStageTable(t *testing.T) {
	doc, err := os.ReadFile("../../ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := stageTableHooks(string(doc))

	want := map[string]string{}
	for _, c := range Candidates() {
		name := c.Stage.String()
		if want[name] != "" {
			want[name] += "; "
		}
		want[name] += "`" + c.Name() + "`"
	}
	for _, s := range append(stage.All(), stage.Drops, stage.TCPRetransmit) {
		name := s.String()
		if documented[name] != want[name] {
			t.Errorf("ARCHITECTURE.md stage %s: hooks column is\n\t%s\nwant\n\t%s", name, documented[name], want[name])
		}
		delete(documented, name)
	}
	for name := range documented {
		t.Errorf("ARCHITECTURE.md stage table has a row for %q, which is no stage", name)
	}
}

// stageTableHooks reads the "| `stage` | meaning | hooks |" rows of the
// document's stage table: stage name → hooks column.
func stageTableHooks(doc string) map[string]string {
	rows := map[string]string{}
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 3 {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		rows[name] = strings.TrimSpace(cells[2])
	}
	return rows
}
