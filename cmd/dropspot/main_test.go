package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	if len(r.Hooks) != 13 || r.Hooks[12].Stage != "drops" {
		t.Errorf("hooks = %+v, want all 12 stages and the drop hook", r.Hooks)
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

// present returns which of ids bpftool still lists ("link" or "prog").
func present(t *testing.T, kind string, ids map[int]bool) []int {
	t.Helper()
	out, err := exec.Command("bpftool", "-j", kind, "show").Output()
	if err != nil {
		t.Fatalf("bpftool %s show: %v", kind, err)
	}
	var objs []struct {
		ID int `json:"id"`
	}
	if err := json.Unmarshal(out, &objs); err != nil {
		t.Fatalf("bpftool output: %v", err)
	}
	var left []int
	for _, o := range objs {
		if ids[o.ID] {
			left = append(left, o.ID)
		}
	}
	return left
}

// Bad input: a clear message and a non-zero exit, before anything loads.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{}, 2, "Usage"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"watch", "--duration", "soon"}, 2, "invalid argument"},
		{[]string{"watch", "--proto", "tcpp"}, 1, `unknown protocol "tcpp"`},
		{[]string{"watch", "--host", "198.18.0"}, 1, "not an IPv4 or IPv6 address"},
		{[]string{"watch", "--port", "70000"}, 2, "invalid argument"},
		{[]string{"watch", "--netns", "/nonexistent/ns"}, 1, "network namespace"},
		{[]string{"watch", "--netns", "/etc/hostname"}, 1, "not a namespace file"},
		{[]string{"watch", "--max-flows", "0"}, 1, "--max-flows"},
		{[]string{"watch", "--skip-hooks", "uprobe"}, 1, "unknown hook family"},
		{[]string{"watch", "tcp and port http"}, 1, "column 14"},
		{[]string{"watch", "tcp", "and", "(udp"}, 1, "column"},
	} {
		cmd := exec.Command(binary, tc.args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tc.code || !strings.Contains(stderr.String(), tc.msg) || strings.Contains(stderr.String(), "panic") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}

// Without privilege the error says what is missing.
func TestUnprivileged(t *testing.T) {
	testnet.RequirePrivileged(t) // to switch to an unprivileged user
	cmd := exec.Command(binary, "watch", "--duration", "1s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "not enough privilege") {
		t.Errorf("unprivileged watch: %v, stderr %q", err, stderr.String())
	}
}
