package hookplan

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Paths through which kprobes are created: the perf PMU, else tracefs.
var kprobeInterfaces = []string{
	"/sys/bus/event_source/devices/kprobe",
	"/sys/kernel/tracing/kprobe_events",
	"/sys/kernel/debug/tracing/kprobe_events",
}

// kprobesAvailable tells whether this kernel can create kprobes at all.
// Checked up front because cilium/ebpf reports "kprobes compiled out" as
// os.ErrNotExist, the same as a missing symbol.
func kprobesAvailable() error {
	for _, p := range kprobeInterfaces {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	return fmt.Errorf("kprobes unavailable on this kernel: none of %v exists", kprobeInterfaces)
}

// noteKindFailure records failures that rule out a whole family: fentry
// refused with EPERM (BPF trampolines blocked), kprobes absent.
func (r *resolver) noteKindFailure(k Kind, err error) {
	switch {
	case k == Fentry && errors.Is(err, unix.EPERM):
		// EPERM, not EACCES: the verifier rejecting one program
		// (EACCES) says nothing about the others.
		r.kindUnavailable[k] = fmt.Errorf("fentry unavailable on this kernel (BPF trampolines refused): %w", err)
	case k == Kprobe:
		if kerr := kprobesAvailable(); kerr != nil {
			r.kindUnavailable[k] = kerr
		}
	}
}
