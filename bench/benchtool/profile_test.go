package main

import (
	"reflect"
	"testing"
)

// unitKstacks is bpftrace's print of @[pid, kstack(perf)] = count(), as
// in kprofile-udp-dropspot.txt: the key line keeps a trailing ", ", each
// frame is "\t<addr> <symbol>+<decimal offset>".
const unitKstacks = "Attaching 1 probe...\n" +
	"\n\n" +
	"@[25656, \n" +
	"\tffffffffc0025d4b bpf_prog_88260af17faf7dbf_tp_netif_rx+411\n" +
	"\tffffffff814ba40d bpf_trace_run1+237\n" +
	"\tffffffff82046f66 udp_sendmsg+2534\n" +
	"]: 7\n" +
	"@[25651, \n" +
	"\tffffffff8143d695 __x64_sys_futex+261\n" +
	"\tffffffff821ef691 do_syscall_64+113\n" +
	"]: 3\n" +
	"\n"

func TestParseStacksKernelWithKey(t *testing.T) {
	got := parseStacks(unitKstacks, nil)
	want := []stackSample{
		{key: "25656", frames: []string{"bpf_prog_88260af17faf7dbf_tp_netif_rx", "bpf_trace_run1", "udp_sendmsg"}, count: 7},
		{key: "25651", frames: []string{"__x64_sys_futex", "do_syscall_64"}, count: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseStacks =\n\t%+v\nwant\n\t%+v", got, want)
	}
}

func TestParseStacksUserWithSymbolizer(t *testing.T) {
	// ustack(perf) of a Go binary bpftrace could not resolve: "0x<addr>"
	// or "[unknown]" as the symbol; named maps (@u[) as in the startup
	// profile; a frame with a resolved symbol keeps it
	dump := "@u[\n" +
		"\t48a4a7 0x48a4a7 ([unknown])\n" +
		"\t44ed33 [unknown] ([unknown])\n" +
		"\t401000 main.main+16 (/tmp/bench-dropspot)\n" +
		"]: 2\n" +
		"@u[\n" +
		"\t48a4a7 0x48a4a7 ([unknown])\n" +
		"\tbogus\n" + // a line with one field is not a frame
		"]: 5\n"
	var asked []string
	sym := func(addr string) string {
		asked = append(asked, addr)
		return map[string]string{"48a4a7": "runtime.memmove", "44ed33": "encoding/json.Marshal"}[addr]
	}
	got := parseStacks(dump, sym)
	want := []stackSample{
		{frames: []string{"runtime.memmove", "encoding/json.Marshal", "main.main"}, count: 2},
		{frames: []string{"runtime.memmove"}, count: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseStacks =\n\t%+v\nwant\n\t%+v", got, want)
	}
	if want := []string{"48a4a7", "44ed33", "48a4a7"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("symbolizer asked for %v, want %v (only unresolved frames)", asked, want)
	}

	// without a symbolizer the address stays as bpftrace printed it
	if got := parseStacks(dump, nil); got[0].frames[0] != "0x48a4a7" || got[0].frames[1] != "[unknown]" {
		t.Errorf("no symbolizer: frames %v", got[0].frames)
	}
}

func TestParseStacksIgnoresTextOutsideMaps(t *testing.T) {
	if got := parseStacks("Attaching 1 probe...\n\tffff notaframe+1\n]: 9\n", nil); len(got) != 0 {
		t.Errorf("text outside a map parsed as %+v", got)
	}
	// an empty stack still carries its count
	got := parseStacks("@[\n]: 4\n", nil)
	if len(got) != 1 || got[0].count != 4 || len(got[0].frames) != 0 {
		t.Errorf("empty stack parsed as %+v", got)
	}
}

func TestTopFrames(t *testing.T) {
	// 10 samples; stacks innermost frame first
	stacks := []stackSample{
		{frames: []string{"leafA", "mid", "root"}, count: 5},
		{frames: []string{"leafB", "mid", "root"}, count: 3},
		{frames: []string{"rec", "rec", "root"}, count: 2}, // recursion
	}
	t.Run("inclusive counts a frame once per stack", func(t *testing.T) {
		got, total := topFrames(stacks, false, 10, nil)
		want := []FrameShare{{"root", 100}, {"mid", 80}, {"leafA", 50}, {"leafB", 30}, {"rec", 20}}
		if total != 10 || !reflect.DeepEqual(got, want) {
			t.Errorf("topFrames inclusive = %v (total %d), want %v (total 10)", got, total, want)
		}
	})
	t.Run("leaf counts the innermost frame", func(t *testing.T) {
		got, total := topFrames(stacks, true, 10, nil)
		want := []FrameShare{{"leafA", 50}, {"leafB", 30}, {"rec", 20}}
		if total != 10 || !reflect.DeepEqual(got, want) {
			t.Errorf("topFrames leaf = %v (total %d), want %v", got, total, want)
		}
	})
	t.Run("skipped frames keep the total, n cuts the list", func(t *testing.T) {
		got, total := topFrames(stacks, false, 2, func(f string) bool { return f == "root" })
		want := []FrameShare{{"mid", 80}, {"leafA", 50}}
		if total != 10 || !reflect.DeepEqual(got, want) {
			t.Errorf("topFrames skip root, n=2 = %v (total %d), want %v", got, total, want)
		}
	})
	t.Run("samples without frames count in the total", func(t *testing.T) {
		got, total := topFrames(append(stacks, stackSample{count: 10}), true, 1, nil)
		if total != 20 || !reflect.DeepEqual(got, []FrameShare{{"leafA", 25}}) {
			t.Errorf("topFrames = %v (total %d), want [{leafA 25}] (total 20)", got, total)
		}
	})
	t.Run("no samples", func(t *testing.T) {
		got, total := topFrames(nil, false, 5, nil)
		if total != 0 || len(got) != 0 {
			t.Errorf("topFrames(nil) = %v, %d", got, total)
		}
	})
}

func TestParseThenTopFrames(t *testing.T) {
	// the kprofile path end to end: 7 of 10 samples inside the program
	stacks := parseStacks(unitKstacks, nil)
	got, total := topFrames(stacks, false, 3, func(f string) bool { return f == "do_syscall_64" })
	want := []FrameShare{{"bpf_prog_88260af17faf7dbf_tp_netif_rx", 70}, {"bpf_trace_run1", 70}, {"udp_sendmsg", 70}}
	if total != 10 || len(got) != 3 {
		t.Fatalf("topFrames = %v (total %d), want 3 frames of 10 samples", got, total)
	}
	// equal shares: any order
	seen := map[FrameShare]bool{}
	for _, f := range got {
		seen[f] = true
	}
	for _, f := range want {
		if !seen[f] {
			t.Errorf("topFrames = %v, lacks %v", got, f)
		}
	}
}
