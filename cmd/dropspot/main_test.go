package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/testnet"
)

var binary string

// TestMain builds the command once: these tests run it the way users and
// the acceptance harness do.
func TestMain(m *testing.M) {
	// Inside the kernel-matrix guests there is no Go toolchain: the
	// runner ships a prebuilt binary and names it here.
	if prebuilt := os.Getenv("DROPSPOT_BINARY"); prebuilt != "" {
		binary = prebuilt
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "dropspot-test")
	if err != nil {
		panic(err)
	}
	// Readable by all: one test runs it as an unprivileged user.
	if err := os.Chmod(dir, 0o755); err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "dropspot")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startWatch runs `dropspot watch` and returns once its hooks are attached.
func startWatch(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(binary, append([]string{"watch", "--ready-file", ready}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			return cmd, &stdout, &stderr
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file after 15s; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer a command writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitReady waits for the ready line on a command's stderr.
func waitReady(t *testing.T, stderr *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(stderr.String(), "dropspot: ready:") {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 15s: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The acceptance harness's command line: JSON and nothing else on stdout,
// one ready line on stderr, exact counts for the traffic it sent.
func TestWatchJSON(t *testing.T) {
	testnet.RequirePrivileged(t)
	p := testnet.NewPair(t)
	cmd, stdout, stderr := startWatch(t, "--json", "--duration", "4s")
	const n = 25
	udp, err := testnet.UDP(p, testnet.A, n, 300, false)
	if err != nil {
		t.Fatal(err)
	}
	ping, err := testnet.Ping(p, testnet.B, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "dropspot: ready: 12 stages hooked") {
		t.Errorf("no ready line on stderr:\n%s", stderr.String())
	}
	var r report.Report
	dec := json.NewDecoder(stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not the JSON report: %v", err)
	}
	if dec.More() {
		t.Fatal("stdout carries more than the JSON document")
	}
	if len(r.Hooks) != 14 || r.Hooks[12].Stage != "drops" || r.Hooks[13].Stage != "tcp.retransmit" {
		t.Errorf("hooks = %+v, want all 12 stages, the drop hook and the TCP retransmission hook", r.Hooks)
	}

	find := func(src, dst string, sport, dport uint16, netns uint32) *report.Flow {
		for i, f := range r.Flows {
			if f.Src == src && f.Dst == dst && f.Sport == sport && f.Dport == dport && f.Netns == netns {
				return &r.Flows[i]
			}
		}
		t.Fatalf("no flow %s:%d -> %s:%d in netns %d; overflow %+v; stderr:\n%s", src, sport, dst, dport, netns, r.Overflow, stderr.String())
		return nil
	}
	in := find(udp.Src.String(), udp.Dst.String(), udp.Sport, udp.Dport, p.InodeB)
	for _, s := range []string{"rx.driver", "rx.core", "ip.rcv", "ip.local_in", "l4.rcv", "sock.rcv"} {
		if in.Stages[s] != n {
			t.Errorf("udp in B: %s = %d, want %d", s, in.Stages[s], n)
		}
	}
	if in.Stages["tx.xmit"] != 0 || in.Path != "local-in" || in.Lost != nil || in.Proto != "udp" {
		t.Errorf("udp in B: %+v", in)
	}
	out := find(udp.Src.String(), udp.Dst.String(), udp.Sport, udp.Dport, p.InodeA)
	if out.Stages["tx.done"] != n || out.Path != "local-out" {
		t.Errorf("udp out of A: %+v", out)
	}
	req := find(ping.Src.String(), ping.Dst.String(), ping.Sport, ping.Dport, p.InodeA)
	rep := find(ping.Dst.String(), ping.Src.String(), ping.Dport, ping.Sport, p.InodeA)
	if req.Conn != rep.Conn || req.Conn == in.Conn || req.Proto != "icmp6" {
		t.Errorf("echo request and reply should share a conn id: %d vs %d", req.Conn, rep.Conn)
	}
	if req.Stages["l4.rcv"] != 4 || rep.Stages["tx.done"] != 4 {
		t.Errorf("ping in A: request %v, reply %v", req.Stages, rep.Stages)
	}
}

// Links are fd-bound: SIGKILL must leave no program or link behind.
func TestSIGKILLLeavesNothingAttached(t *testing.T) {
	testnet.RequirePrivileged(t)
	testnet.NewPair(t) // a second namespace, so per-namespace links exist too
	cmd, _, _ := startWatch(t)
	links, progs := ownedBPF(t, cmd.Process.Pid)
	if len(links) < 12 || len(progs) < 12 {
		t.Fatalf("watch holds %d links and %d programs, want at least 12 each", len(links), len(progs))
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitDetached(t, links, progs)
}

// waitDetached waits (10 s at most) until the kernel has freed the links
// and programs of a process that has exited.
func waitDetached(t *testing.T, links, progs map[int]bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		leftLinks := present(t, "link", links)
		leftProgs := present(t, "prog", progs)
		if len(leftLinks)+len(leftProgs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after exit still attached: links %v, programs %v", leftLinks, leftProgs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownedBPF lists the BPF link and program ids a process holds, from the
// fdinfo of its file descriptors.
func ownedBPF(t *testing.T, pid int) (links, progs map[int]bool) {
	t.Helper()
	links, progs = map[int]bool{}, map[int]bool{}
	infos, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "fdinfo", "*"))
	for _, path := range infos {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			id, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				continue
			}
			switch k {
			case "link_id":
				links[id] = true
			case "prog_id":
				progs[id] = true
			}
		}
	}
	return links, progs
}

// present returns which of ids the kernel still holds ("link" or
// "prog"). By id, not by listing them all: a listing (bpftool) fails
// when a link it saw goes before it reads it, which is what happens
// while a process's links are being freed (CI: exit 255).
func present(t *testing.T, kind string, ids map[int]bool) []int {
	t.Helper()
	var left []int
	for id := range ids {
		var err error
		if kind == "link" {
			var l link.Link
			if l, err = link.NewFromID(link.ID(id)); err == nil {
				l.Close()
			}
		} else {
			var p *ebpf.Program
			if p, err = ebpf.NewProgramFromID(ebpf.ProgramID(id)); err == nil {
				p.Close()
			}
		}
		switch {
		case err == nil:
			left = append(left, id)
		case !errors.Is(err, os.ErrNotExist):
			t.Fatalf("%s %d: %v", kind, id, err)
		}
	}
	return left
}

// Bad input: a clear message and a non-zero exit, before anything loads:
// 2 for what the command line alone shows to be wrong, 1 for what is not
// there.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{}, 2, "Usage"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"watch", "--duration", "soon"}, 2, "invalid argument"},
		{[]string{"watch", "--duration", "0s"}, 2, "--duration must be more than 0"},
		{[]string{"watch", "--duration", "-1s"}, 2, "--duration must be more than 0"},
		{[]string{"watch", "--interval", "0s"}, 2, "--interval must be more than 0"},
		{[]string{"watch", "-o", "yaml"}, 2, "want text or json"},
		{[]string{"watch", "--proto", "tcpp"}, 2, `unknown protocol "tcpp"`},
		{[]string{"watch", "--host", "198.18.0"}, 2, "not an IPv4 or IPv6 address"},
		{[]string{"watch", "--port", "70000"}, 2, "invalid argument"},
		{[]string{"watch", "--netns", "/nonexistent/ns"}, 1, "network namespace"},
		{[]string{"watch", "--netns", "/etc/hostname"}, 1, "not a namespace file"},
		{[]string{"watch", "--netns", "x", "--filter-pid", "1"}, 2, "give one"},
		{[]string{"watch", "--max-flows", "0"}, 2, "--max-flows"},
		{[]string{"serve", "--max-flows", "0"}, 2, "--max-flows"},
		{[]string{"serve", "--top-flows", "-1"}, 2, "--top-flows"},
		{[]string{"watch", "--skip-hooks", "uprobe"}, 2, "unknown hook family"},
		{[]string{"watch", "--stages", "rx.driver,ip.nowhere"}, 2, `--stages: unknown stage "ip.nowhere": want presets (all, seed, serve) or stage names (rx.driver,`},
		{[]string{"serve", "--stages", ","}, 2, "--stages: no stage chosen"},
		{[]string{"doctor", "--stages", "everything"}, 2, `unknown stage "everything"`},
		{[]string{"watch", "--stages", "seed", "--stages", "tx.qeue"}, 2, "tx.done, drops"},
		{[]string{"watch", "--stages", "rx.driver", "--events"}, 2, "add drops to --stages"},
		{[]string{"watch", "tcp and port http"}, 2, "column 14"},
		{[]string{"watch", "tcp", "and", "(udp"}, 2, "column"},
		{[]string{"demo", "now"}, 2, `unexpected argument "now"`},
		{[]string{"doctor", "now"}, 2, `unexpected argument "now"`},
		{[]string{"report"}, 2, "want one JSON report file"},
		{[]string{"report", "a.json", "b.json"}, 2, `unexpected argument "b.json"`},
		{[]string{"report", "/nonexistent/report.json"}, 1, "no such file"},
	} {
		// Bounded: a command line that is wrongly accepted would trace
		// until stopped.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, tc.args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tc.code || !strings.Contains(stderr.String(), tc.msg) || strings.Contains(stderr.String(), "panic") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
		if stdout.Len() > 0 {
			t.Errorf("%v: wrote %q to stdout", tc.args, stdout.String())
		}
	}
}

// `report` refuses anything that is not a saved report, saying in one line
// what it got, with exit code 1.
func TestReportRefusesNonReports(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{
		"{}\n": "an empty JSON object",
		"":     "the file is empty",
		`{"time":"2026-01-01T00:00:00Z","netns":1,"ifindex":0,"packets":1,"drop":{"reason":"NO_SOCKET"}}` + "\n" +
			`{"time":"2026-01-01T00:00:01Z","netns":1,"ifindex":0,"packets":1,"drop":{"reason":"NO_SOCKET"}}` + "\n": "a --events stream",
		"<html></html>": "not JSON",
		"[1, 2]":        "a JSON array",
		`{"flows":[],"hooks":[{"stage":"rx.core","hook":"tp_btf/netif_receive_skb"}]}{}`: "followed by more data",
	} {
		file := filepath.Join(dir, "input.json")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(binary, "report", file)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), want) || strings.Count(stderr.String(), "\n") != 1 || stdout.Len() > 0 {
			t.Errorf("report of %q: %v, stdout %q, stderr %q; want exit 1 and one line saying %q", content, err, stdout.String(), stderr.String(), want)
		}
	}
}

// Every command's --help shows how to call it (its arguments), says where
// its output goes, and exits 0.
func TestHelpShowsArguments(t *testing.T) {
	for cmd, want := range map[string][]string{
		"watch":  {"Usage: dropspot watch [flags] [FILTER]", "FILTER is", "stdout", "CAP_BPF", "--duration"},
		"serve":  {"Usage: dropspot serve [flags] [FILTER]", "FILTER is", "CAP_BPF", "--listen"},
		"report": {"Usage: dropspot report [--html] FILE.json", "on stdout", "--html"},
		"doctor": {"Usage: dropspot doctor", "stdout", "CAP_BPF"},
		"demo":   {"Usage: dropspot demo", "stdout", "CAP_BPF"},
	} {
		out, err := exec.Command(binary, cmd, "--help").Output()
		if err != nil {
			t.Errorf("%s --help: %v", cmd, err)
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s --help does not say %q:\n%s", cmd, w, out)
			}
		}
	}
}

// The top-level usage lists the commands with their arguments, the
// descriptions in one column.
func TestUsageAligned(t *testing.T) {
	out, _ := exec.Command(binary, "help").Output()
	col := -1
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, "  dropspot ") {
			continue
		}
		// The description starts after the widest "dropspot NAME ARGS".
		i := strings.Index(line, "   ") + 3
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if col >= 0 && i != col {
			t.Errorf("misaligned usage line %q (column %d, others %d)", line, i, col)
		}
		col = i
	}
	if col < 0 {
		t.Fatalf("no command lines in the usage:\n%s", out)
	}
}

// Without privilege every command that needs it says which capabilities,
// in one line, and exits 1.
func TestUnprivileged(t *testing.T) {
	testnet.RequirePrivileged(t) // to switch to an unprivileged user
	for _, args := range [][]string{{"watch", "--duration", "1s"}, {"serve", "--listen", "127.0.0.1:0"}, {"doctor"}, {"demo"}} {
		cmd := exec.Command(binary, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		msg := stderr.String()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(msg, "not enough privilege") ||
			!strings.Contains(msg, "CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_ADMIN") || strings.Count(msg, "dropspot:") != 1 {
			t.Errorf("unprivileged %v: %v, stderr %q", args, err, msg)
		}
	}
}

// doctor says why a hook family is refused once, in the user's words, not
// at every stage, and passes on no library hint that does not apply (the
// MEMLOCK one: dropspot lifts the limit before loading).
func TestDoctorNamesCausesOnce(t *testing.T) {
	testnet.RequirePrivileged(t)
	raw, err := exec.Command(binary, "doctor").Output()
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, raw)
	}
	out := string(raw)
	if strings.Contains(out, "MEMLOCK") {
		t.Errorf("doctor passes on the MEMLOCK hint:\n%s", out)
	}
	for family, cause := range map[string]string{"fentry": "the kernel refuses BPF trampolines", "kprobe": "kprobes are compiled out"} {
		// Refused as a whole: no stage lists its candidates, one line says why.
		refused := !strings.Contains(out, "rejected "+family+"/") && !strings.Contains(out, " "+family+"/")
		if n := strings.Count(out, cause); refused && n != 1 || !refused && n != 0 {
			t.Errorf("%s refused as a whole: %v, yet %q said %d times:\n%s", family, refused, cause, n, out)
		}
		if family == "kprobe" && strings.Contains(out, "kprobes:      no") && !refused {
			t.Errorf("no kprobes on this kernel, yet doctor lists kprobe candidates per stage:\n%s", out)
		}
	}
}
