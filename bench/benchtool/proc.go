package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
)

// proc is a child process the harness started; only these are ever
// signalled, by pid.
type proc struct {
	name  string
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
	start time.Time
}

var (
	liveMu sync.Mutex
	live   = map[*proc]bool{}
)

func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), start: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	liveMu.Lock()
	live[p] = true
	liveMu.Unlock()
	go func() {
		p.err = cmd.Wait()
		liveMu.Lock()
		delete(live, p)
		liveMu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// startPiped is startProc with the given streams of cmd (&cmd.Stdout,
// &cmd.Stderr) writing into one pipe, returned for reading. Unlike
// cmd.StdoutPipe, Wait does not close it under a reader: it ends (EOF)
// when the process and its children have closed it.
func startPiped(name string, cmd *exec.Cmd, streams ...*io.Writer) (*proc, io.ReadCloser, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	for _, s := range streams {
		*s = w
	}
	p, err := startProc(name, cmd)
	w.Close() // the child has its own copy
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return p, r, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to timeout, then SIGKILLs.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) error {
	return p.stopRepeating(sig, 0, timeout)
}

// stopRepeating is stop, sending sig again every interval (0: once) while
// the process lives, for programs that can miss a signal.
func (p *proc) stopRepeating(sig syscall.Signal, every, timeout time.Duration) error {
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(sig)
	var again <-chan time.Time
	if every > 0 {
		tick := time.NewTicker(every)
		defer tick.Stop()
		again = tick.C
	}
	deadline := time.After(timeout)
	for {
		select {
		case <-p.done:
			return p.err
		case <-again:
			_ = p.cmd.Process.Signal(sig)
		case <-deadline:
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("%s did not stop within %v after %v: killed", p.name, timeout, sig)
		}
	}
}

// wait waits for the process to end by itself, killing it after timeout.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s ran past %v: killed", p.name, timeout)
	}
}

// stopAll ends every child still running (interrupt, then kill).
func stopAll() {
	liveMu.Lock()
	ps := make([]*proc, 0, len(live))
	for p := range live {
		ps = append(ps, p)
	}
	liveMu.Unlock()
	for _, p := range ps {
		_ = p.stop(syscall.SIGINT, 5*time.Second)
	}
}

// lineWaiter reads a child's output until a line containing want shows,
// then drains the rest in the background. At EOF without it, it sends
// "EOF: " and the lines seen (the last 40), for the error.
func lineWaiter(r io.ReadCloser, want string) <-chan string {
	ch := make(chan string, 1)
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		var seen []string
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, want) {
				ch <- line
				_, _ = io.Copy(io.Discard, r)
				return
			}
			if seen = append(seen, line); len(seen) > 40 {
				seen = seen[1:]
			}
		}
		_, _ = io.Copy(io.Discard, r) // after a line too long: up to the real EOF
		ch <- "EOF: " + strings.Join(seen, "\n")
	}()
	return ch
}

func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// runJSON runs a command with a time bound and decodes its stdout.
func runJSON(timeout time.Duration, v any, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	p, err := startProc(name, cmd)
	if err != nil {
		return err
	}
	data, _ := io.ReadAll(out)
	if err := p.wait(timeout); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, tail(stderr.String(), 400))
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: bad JSON output: %v: %s", name, err, tail(string(data), 400))
	}
	return nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// ownedBPF lists the BPF program and map ids a process holds fds for.
func ownedBPF(pid int) (progs, maps []int) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	seenP, seenM := map[int]bool{}, map[int]bool{}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
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
			switch strings.TrimSpace(k) {
			case "prog_id":
				seenP[id] = true
			case "map_id":
				seenM[id] = true
			}
		}
	}
	for id := range seenP {
		progs = append(progs, id)
	}
	for id := range seenM {
		maps = append(maps, id)
	}
	sort.Ints(progs)
	sort.Ints(maps)
	return progs, maps
}

// progStat is what the kernel says of a program: its run time and runs
// (counted while statsOn), name, type and sizes.
type progStat struct {
	name, typ                  string
	runTimeNS, runs            uint64
	xlated, jited, verifiedIns int
}

// progStats reads these programs' stats; one gone meanwhile reads as zeros.
func progStats(ids []int) map[int]progStat {
	out := make(map[int]progStat, len(ids))
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
		if err != nil {
			continue
		}
		var s progStat
		if st, err := p.Stats(); err == nil {
			s.runTimeNS, s.runs = uint64(st.Runtime), st.RunCount
		}
		if info, err := p.Info(); err == nil {
			s.name, s.typ = info.Name, strings.ToLower(info.Type.String())
			s.xlated, _ = info.TranslatedSize()
			jited, _ := info.JitedSize()
			verified, _ := info.VerifiedInstructions()
			s.jited, s.verifiedIns = int(jited), int(verified)
		}
		p.Close()
		out[id] = s
	}
	return out
}

// since is the run time and runs between an earlier reading and this one.
func (s progStat) since(before progStat) (ns, runs uint64) {
	return s.runTimeNS - before.runTimeNS, s.runs - before.runs
}

// bpftoolJSON runs bpftool -j, retrying: a program or map that goes
// away while bpftool walks the ids (other people's tests come and go)
// cuts its output short.
func bpftoolJSON(v any, args ...string) error {
	var err error
	for try := 0; try < 8; try++ {
		if err = runJSON(60*time.Second, v, "bpftool", append([]string{"-j"}, args...)...); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// summary is a sample's median and spread.
type summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// scaled is the summary in other units (kpps from packets/s, ...).
func (s summary) scaled(f float64) summary {
	return summary{N: s.N, Median: s.Median * f, Min: s.Min * f, Max: s.Max * f}
}

func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{N: len(s), Median: med, Min: s[0], Max: s[len(s)-1]}
}
