package hookplan

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A failure that rules out a family is said in words a user can act on,
// without cilium/ebpf's MEMLOCK hint (wrong here: the limit is lifted
// before loading); a failure of one candidate rules out nothing.
func TestFamilyFailure(t *testing.T) {
	eperm := fmt.Errorf("load program: %w (MEMLOCK may be too low, consider rlimit.RemoveMemlock)", unix.EPERM)
	err := familyFailure(Fentry, eperm)
	if err == nil || !strings.Contains(err.Error(), "the kernel refuses BPF trampolines") || strings.Contains(err.Error(), "MEMLOCK") {
		t.Errorf("fentry refused with EPERM: %v", err)
	}
	if err := familyFailure(Fentry, fmt.Errorf("verifier: %w", unix.EACCES)); err != nil {
		t.Errorf("one fentry program rejected by the verifier rules out the family: %v", err)
	}
	if err := familyFailure(Tracepoint, eperm); err != nil {
		t.Errorf("a tracepoint failure rules out the family: %v", err)
	}
	err = familyFailure(Kprobe, errors.New("kprobe on x: file does not exist"))
	if KprobesAvailable() == nil {
		if err != nil {
			t.Errorf("kprobes exist here, yet a kprobe failure ruled them out: %v", err)
		}
	} else if err == nil || !strings.Contains(err.Error(), "kprobes are compiled out") {
		t.Errorf("kprobes absent: %v", err)
	}
}
