// Package dropreason names kernel drop reasons and explains them. Names
// come from the running kernel's BTF (enum skb_drop_reason): the numbering
// changes between kernels, so there is no table of numbers here.
package dropreason

import (
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf/btf"
)

const (
	corePrefix = "SKB_DROP_REASON_"
	// Reasons of subsystems (mac80211, openvswitch ...) carry the
	// subsystem id above bit 16 and live in enums of their own.
	subsysShift = 16
)

// Names maps the running kernel's reason numbers to names.
type Names struct {
	core map[uint32]string

	spec       *btf.Spec // for subsystem reasons, looked up on first use
	subsysOnce sync.Once
	subsys     map[uint32]string
}

// Load reads the reason names from the kernel's BTF. A kernel without the
// enum (before 5.17) gives an empty table: drops then have locations only.
func Load() (*Names, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("kernel BTF: %w", err)
	}
	var enum *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
		return &Names{core: map[uint32]string{}}, nil
	}
	n := FromEnum(enum)
	n.spec = spec
	return n, nil
}

// FromEnum builds the table from an enum skb_drop_reason.
func FromEnum(enum *btf.Enum) *Names {
	n := &Names{core: map[uint32]string{}}
	for _, v := range enum.Values {
		name, ok := strings.CutPrefix(v.Name, corePrefix)
		if !ok || strings.HasPrefix(name, "SUBSYS_") || name == "MAX" {
			continue
		}
		n.core[uint32(v.Value)] = name
	}
	return n
}

// Name returns a reason's name ("NETFILTER_DROP"), "" for 0 (a kernel
// without reasons), or "reason(N)" for a number the kernel does not name.
func (n *Names) Name(v uint32) string {
	if v == 0 {
		return ""
	}
	if name, ok := n.core[v]; ok {
		return name
	}
	if v>>subsysShift != 0 {
		n.subsysOnce.Do(n.loadSubsystems)
		if name, ok := n.subsys[v]; ok {
			return name
		}
	}
	return fmt.Sprintf("reason(%d)", v)
}

// loadSubsystems collects the values of every *_drop_reason enum that
// carry a subsystem id.
func (n *Names) loadSubsystems() {
	n.subsys = map[uint32]string{}
	if n.spec == nil {
		return
	}
	for typ, err := range n.spec.All() {
		if err != nil {
			return
		}
		e, ok := typ.(*btf.Enum)
		if !ok || !strings.HasSuffix(e.Name, "_drop_reason") || e.Name == "skb_drop_reason" {
			continue
		}
		for _, v := range e.Values {
			if v.Value>>subsysShift != 0 {
				n.subsys[uint32(v.Value)] = v.Name
			}
		}
	}
}
