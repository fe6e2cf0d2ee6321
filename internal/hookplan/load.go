package hookplan

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// loader loads single programs of the object against maps created once,
// so that only the programs the plan uses are ever verified.
type loader struct {
	spec *ebpf.CollectionSpec
	maps map[string]*ebpf.Map
}

// load verifies one program; attachTo overrides the fentry target.
func (l *loader) load(name, attachTo string) (*ebpf.Program, error) {
	ps, ok := l.spec.Programs[name]
	if !ok {
		return nil, fmt.Errorf("program %s is not in the BPF object", name)
	}
	ps = ps.Copy()
	if attachTo != "" {
		ps.AttachTo = attachTo
	}
	cs := &ebpf.CollectionSpec{
		Maps:      l.spec.Maps,
		Programs:  map[string]*ebpf.ProgramSpec{name: ps},
		Variables: l.spec.Variables,
		Types:     l.spec.Types,
		ByteOrder: l.spec.ByteOrder,
	}
	coll, err := ebpf.NewCollectionWithOptions(cs, ebpf.CollectionOptions{MapReplacements: l.maps})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	defer coll.Close()
	return coll.DetachProgram(name), nil
}
