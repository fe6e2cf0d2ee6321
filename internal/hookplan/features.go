package hookplan

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths through which kprobes are created: the perf PMU, else tracefs.
var kprobeInterfaces = []string{
	"/sys/bus/event_source/devices/kprobe",
	"/sys/kernel/tracing/kprobe_events",
	"/sys/kernel/debug/tracing/kprobe_events",
}

// KprobesAvailable tells whether this kernel can create kprobes at all.
// Checked up front because cilium/ebpf reports "kprobes compiled out" as
// os.ErrNotExist, the same as a missing symbol.
func KprobesAvailable() error {
	for _, p := range kprobeInterfaces {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	return fmt.Errorf("kprobes are compiled out of this kernel (no CONFIG_KPROBES): none of %s exists",
		strings.Join(kprobeInterfaces, ", "))
}

// errTrampolines is why fentry fails as a whole where it fails with EPERM.
// Said in the user's words, without the raw error: cilium/ebpf adds to
// EPERM a hint about MEMLOCK that is wrong here (dropspot lifts the limit
// before it loads anything).
var errTrampolines = errors.New("the kernel refuses BPF trampolines: fentry programs do not load (EPERM), " +
	"so function tracing is blocked here (kernel lockdown, a sandbox or a security module)")

// familyFailure tells whether a failure rules out a whole family, and
// says why: fentry refused with EPERM (BPF trampolines blocked), kprobes
// absent. It is nil for a failure of one candidate.
func familyFailure(k Kind, err error) error {
	switch {
	case k == Fentry && errors.Is(err, unix.EPERM):
		// EPERM, not EACCES: the verifier rejecting one program
		// (EACCES) says nothing about the others.
		return errTrampolines
	case k == Kprobe:
		return KprobesAvailable()
	}
	return nil
}
