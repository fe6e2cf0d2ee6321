package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/netns"
)

// Addresses: the veth pair carries iperf3 and the UDP flood; the TAP device
// (scale case) sits in namespace B; flood sources are 198.19.0.0/16. The
// /24s are inside 198.18.200.0/22, which the tests' topologies never take
// (internal/testnet/subnet.go): a test running beside the benchmark must
// not find its packets under its own addresses.
const (
	addrA    = "198.18.200.1"
	addrB    = "198.18.200.2"
	tapAddr  = "198.18.201.2/24"
	iperfPrt = "5201"
	udpPort  = "9000"
	dropPort = "9001" // nothing listens: the drop case
)

type options struct {
	quick         bool
	reps          int
	tcpSeconds    float64
	udpSeconds    float64
	hookReps      int
	hookSeconds   float64
	nat           bool
	startupReps   int
	scaleFlows    []int
	scaleReps     int
	scaleBigRep   int
	uprofileFlows int
	dropspot      string
	script        string
	outDir        string
	phases        map[string]bool
	configs       []string
	hosts         []string // host shapes of the throughput and hooks phases
}

type bench struct {
	opt     options
	self    string
	tmp     string
	sfx     string
	nsA     string
	nsB     string
	cgroup  string
	iperfSv *proc
	res     *Results
	nready  int
	log     io.Writer
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var o options
	var flows, phases, configs, hosts string
	fs.BoolVar(&o.quick, "quick", false, "smoke run (~2 min): fewer repetitions, shorter runs, no 10^6 raised case repeats")
	fs.IntVar(&o.reps, "reps", 0, "throughput and drop-storm repetitions per tool (default 5, quick 2)")
	fs.Float64Var(&o.tcpSeconds, "tcp-seconds", 0, "iperf3 TCP run length (default 5, quick 3)")
	fs.Float64Var(&o.udpSeconds, "udp-seconds", 0, "UDP flood length, drop storm included (default 4, quick 2)")
	fs.IntVar(&o.hookReps, "hook-reps", 0, "per-hook cost windows per traffic type (default 3, quick 1)")
	fs.Float64Var(&o.hookSeconds, "hook-seconds", 3, "length of each per-hook cost window")
	fs.BoolVar(&o.nat, "nat", false, "per-hook cost with NAT: namespace b DNATs the drop flood to another closed port (so conntrack runs there for every window)")
	fs.IntVar(&o.startupReps, "startup-reps", 0, "startup repetitions (default 7, quick 3)")
	fs.StringVar(&flows, "scale-flows", "", "flow counts for the scale case (default 10000,100000,1000000; quick 10000,100000)")
	fs.IntVar(&o.scaleReps, "scale-reps", 0, "repetitions per scale case (default 3, quick 1)")
	fs.IntVar(&o.scaleBigRep, "scale-big-reps", 0, "repetitions for cases of 10^6 flows and more (default 2, quick 1)")
	fs.IntVar(&o.uprofileFlows, "uprofile-flows", 0, "flows in the table while the report's CPU profile is taken (default 10^6, quick 10^5)")
	fs.StringVar(&o.dropspot, "dropspot", "/tmp/bench-dropspot", "dropspot binary")
	fs.StringVar(&o.script, "bpftrace-script", "bench/flows.bt", "bpftrace script counting per flow")
	fs.StringVar(&o.outDir, "out", "", "results directory (default bench/results/<UTC time>)")
	fs.StringVar(&phases, "phases", "startup,throughput,drops,hooks,components,kprofile,scale,uprofile,sprofile", "phases to run")
	fs.StringVar(&configs, "configs", "baseline,dropspot,bpftrace,empty", "throughput configurations (also: empty-tp, empty-nf, empty-cg: empty programs on one hook family)")
	fs.StringVar(&hosts, "hosts", hostBare, "host shapes of the throughput and hooks phases: bare (the namespaces alone), realistic (conntrack and a kube-proxy node's iptables-nft rules in both); every configuration runs on each")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.hosts, err = parseHosts(hosts); err != nil {
		return err
	}
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if o.quick {
				*v = quick
			}
		}
	}
	deff := func(v *float64, full, quick float64) {
		if *v == 0 {
			*v = full
			if o.quick {
				*v = quick
			}
		}
	}
	def(&o.reps, 5, 2)
	deff(&o.tcpSeconds, 5, 3)
	deff(&o.udpSeconds, 4, 2)
	def(&o.hookReps, 3, 1)
	def(&o.startupReps, 7, 3)
	def(&o.scaleReps, 3, 1)
	def(&o.scaleBigRep, 2, 1)
	def(&o.uprofileFlows, 1_000_000, 100_000)
	if flows == "" {
		flows = "10000,100000,1000000"
		if o.quick {
			flows = "10000,100000"
		}
	}
	for _, f := range strings.Split(flows, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.ParseFloat(f, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("--scale-flows: bad count %q", f)
		}
		o.scaleFlows = append(o.scaleFlows, int(n))
	}
	for _, c := range strings.Split(configs, ",") {
		if c = strings.TrimSpace(c); c != "" {
			o.configs = append(o.configs, c)
		}
	}
	if len(o.configs) == 0 || o.configs[0] != "baseline" {
		return fmt.Errorf("--configs must start with baseline")
	}
	o.phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		o.phases[strings.TrimSpace(p)] = true
	}
	if o.outDir == "" {
		o.outDir = filepath.Join("bench", "results", time.Now().UTC().Format("20060102T150405Z"))
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b := &bench{opt: o, self: self, log: os.Stderr}
	unlock, err := lockMachine(b.logf)
	if err != nil {
		return err
	}
	defer unlock()
	b.res = &Results{Started: time.Now().UTC(), Command: "bash bench/run.sh " + strings.Join(args, " ")}
	return b.main()
}

// benchLock is one benchmark run per machine: two would measure each
// other (bench/run.sh, and go test's smoke run, both come through here).
const benchLock = "/tmp/dropspot-bench.lock"

// lockMachine takes benchLock, waiting up to 30 minutes for a run that
// holds it. The kernel releases it when the process ends, whichever way.
func lockMachine(logf func(string, ...any)) (unlock func(), err error) {
	f, err := os.OpenFile(benchLock, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Minute)
	for waited := false; ; waited = true {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%s: %w", benchLock, err)
		}
		if !waited {
			logf("another benchmark run holds %s; waiting (up to 30 min)", benchLock)
		}
		time.Sleep(time.Second)
	}
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.log, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func (b *bench) main() error {
	var err error
	if b.tmp, err = os.MkdirTemp("", "dropspot-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	cleanupDone := make(chan struct{})
	defer close(cleanupDone)
	go func() {
		select {
		case s := <-sig:
			b.logf("interrupted (%v): cleaning up", s)
			b.cleanup()
			os.Exit(130)
		case <-cleanupDone:
		}
	}()
	defer b.cleanup()

	b.res.Machine = machineInfo()
	b.res.Machine.Dropspot = dropspotInfo(b.opt.dropspot)
	if b.cgroup, err = hookplan.CgroupV2Root(); err != nil {
		return err
	}
	if err := b.setupNet(); err != nil {
		return err
	}
	b.res.Tcpdrop = probeTcpdrop(b)
	b.logf("tcpdrop-bpfcc: %s", b.res.Tcpdrop.Status)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"startup", b.phaseStartup},
		{"throughput", b.phaseThroughput},
		{"drops", b.phaseDropStorm},
		{"hooks", b.phaseHooks},
		{"components", b.phaseComponents},
		{"kprofile", b.phaseKProfile},
		{"scale", b.phaseScale},
		{"uprofile", b.phaseUProfile},
		{"sprofile", b.phaseSProfile},
	}
	for _, s := range steps {
		if !b.opt.phases[s.name] {
			continue
		}
		t0 := time.Now()
		b.logf("phase %s", s.name)
		if err := s.fn(); err != nil {
			b.res.Errors = append(b.res.Errors, fmt.Sprintf("%s: %v", s.name, err))
			b.logf("phase %s failed: %v", s.name, err)
		}
		b.logf("phase %s took %.0fs", s.name, time.Since(t0).Seconds())
	}
	b.res.Finished = time.Now().UTC()
	b.res.Machine.LoadAvgEnd = loadAvg()
	b.res.Summarize()
	if err := b.writeResults(); err != nil {
		return err
	}
	if len(b.res.Errors) > 0 {
		return fmt.Errorf("%d phase(s) failed: %s", len(b.res.Errors), strings.Join(b.res.Errors, "; "))
	}
	return nil
}

// ---- network -------------------------------------------------------------

func (b *bench) setupNet() error {
	r := make([]byte, 3)
	if _, err := rand.Read(r); err != nil {
		return err
	}
	b.sfx = hex.EncodeToString(r)
	b.nsA, b.nsB = "dsbench-a-"+b.sfx, "dsbench-b-"+b.sfx
	va, vb := "dsba"+b.sfx, "dsbb"+b.sfx
	cmds := [][]string{
		{"ip", "netns", "add", b.nsA},
		{"ip", "netns", "add", b.nsB},
		{"ip", "link", "add", va, "netns", b.nsA, "type", "veth", "peer", "name", vb, "netns", b.nsB},
	}
	for _, ns := range []string{b.nsA, b.nsB} {
		cmds = append(cmds,
			[]string{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
				"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"})
	}
	cmds = append(cmds,
		[]string{"ip", "-n", b.nsA, "addr", "add", addrA + "/24", "dev", va},
		[]string{"ip", "-n", b.nsB, "addr", "add", addrB + "/24", "dev", vb},
		[]string{"ip", "-n", b.nsA, "link", "set", va, "up"},
		[]string{"ip", "-n", b.nsB, "link", "set", vb, "up"},
	)
	for _, c := range cmds {
		if _, err := run(c[0], c[1:]...); err != nil {
			return err
		}
	}
	// static neighbours: no ARP in the middle of a flood
	macA, err := linkMAC(b.nsA, va)
	if err != nil {
		return err
	}
	macB, err := linkMAC(b.nsB, vb)
	if err != nil {
		return err
	}
	for _, c := range [][]string{
		{"ip", "-n", b.nsA, "neigh", "replace", addrB, "lladdr", macB, "dev", va, "nud", "permanent"},
		{"ip", "-n", b.nsB, "neigh", "replace", addrA, "lladdr", macA, "dev", vb, "nud", "permanent"},
	} {
		if _, err := run(c[0], c[1:]...); err != nil {
			return err
		}
	}
	cmd := exec.Command("ip", "netns", "exec", b.nsB, "iperf3", "-s", "-p", iperfPrt, "--forceflush")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if b.iperfSv, err = startProc("iperf3 server", cmd); err != nil {
		return err
	}
	select {
	case line := <-lineWaiter(out, "listening"):
		if strings.HasPrefix(line, "EOF") {
			return fmt.Errorf("iperf3 server: %s", line)
		}
	case <-time.After(10 * time.Second):
		return fmt.Errorf("iperf3 server did not start")
	}
	b.logf("namespaces %s, %s (veth %s/%s)", b.nsA, b.nsB, va, vb)
	return nil
}

// netnsInodes are the benchmark's two namespaces as dropspot's reports
// name them (the nsfs inode).
func (b *bench) netnsInodes() ([]uint32, error) {
	var inos []uint32
	for _, ns := range []string{b.nsA, b.nsB} {
		ino, err := netns.Inode(netns.Named(ns))
		if err != nil {
			return nil, err
		}
		inos = append(inos, ino)
	}
	return inos, nil
}

func linkMAC(ns, dev string) (string, error) {
	out, err := run("ip", "-n", ns, "-j", "link", "show", dev)
	if err != nil {
		return "", err
	}
	var l []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l) == 0 {
		return "", fmt.Errorf("ip link show %s: %q", dev, out)
	}
	return l[0].Address, nil
}

func (b *bench) cleanup() {
	stopAll()
	for _, ns := range []string{b.nsA, b.nsB} {
		if ns != "" {
			_, _ = run("ip", "netns", "del", ns)
		}
	}
	b.nsA, b.nsB = "", ""
}

// ---- tools ----------------------------------------------------------------

var readyNetnsRe = regexp.MustCompile(`netfilter hooks in (\d+) namespaces`)

// tool is one of the things measured against the baseline.
type tool struct {
	kind    string
	p       *proc
	startup time.Duration
	netns   int // dropspot: namespaces with netfilter links, from its ready line
	// dropspot: its stderr (log lines; the final report with --events)
	stderrPath string
}

// startDropspot runs `dropspot watch --json` with extra flags and waits
// for its --ready-file; stdout goes to w (a file or a pipe).
func (b *bench) startDropspot(extra []string, w io.Writer) (*tool, error) {
	return b.startWatch(append([]string{"--json"}, extra...), w)
}

// startWatch runs `dropspot watch` with these flags until stopped, and
// waits for its --ready-file; stdout goes to w, stderr to t.stderrPath.
func (b *bench) startWatch(flags []string, w io.Writer) (*tool, error) {
	b.nready++
	ready := filepath.Join(b.tmp, fmt.Sprintf("ready-%d", b.nready))
	args := append([]string{"watch", "--duration", "900s", "--ready-file", ready}, flags...)
	cmd := exec.Command(b.opt.dropspot, args...)
	cmd.Stdout = w
	errf, err := os.Create(filepath.Join(b.tmp, fmt.Sprintf("dropspot-%d.err", b.nready)))
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	cmd.Stderr = errf
	t0 := time.Now()
	p, err := startProc("dropspot", cmd)
	if err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if p.exited() || time.Since(t0) > 60*time.Second {
			_ = p.stop(syscall.SIGKILL, time.Second)
			msg, _ := os.ReadFile(errf.Name())
			return nil, fmt.Errorf("dropspot did not get ready: %v: %s", p.err, tail(string(msg), 600))
		}
		time.Sleep(time.Millisecond)
	}
	t := &tool{kind: "dropspot", p: p, startup: time.Since(t0), stderrPath: errf.Name()}
	time.Sleep(20 * time.Millisecond) // the ready line is written just before the file
	if msg, err := os.ReadFile(errf.Name()); err == nil {
		if m := readyNetnsRe.FindSubmatch(msg); m != nil {
			t.netns, _ = strconv.Atoi(string(m[1]))
		}
	}
	return t, nil
}

func (b *bench) startBpftrace() (*tool, error) {
	script, err := filepath.Abs(b.opt.script)
	if err != nil {
		return nil, err
	}
	t, err := startTool("bpftrace", bpftraceCommand(script), bpftraceAttached, 60*time.Second)
	if err != nil {
		return nil, fmt.Errorf("bpftrace: %w", err)
	}
	return t, nil
}

// bpftraceAttached is the line bpftrace prints once every probe is attached
// when the environment has it set (the hook of bpftrace's runtime tests).
// Its "Attaching N probes..." comes before the attach calls, and bpftrace
// 0.17 loses a SIGINT that arrives during them: it then polls forever
// (measured: SIGINT right after "Attaching" hung 1 run in 6; CI's smoke
// test hung so when the attach took over 2.5 s beside other BPF tests).
const bpftraceAttached = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"

// stopBpftrace ends a bpftrace run the way Ctrl-C does (it prints its
// maps), without losing the signal. bpftrace 0.17 leaves its poll loop only
// when the signal interrupts its epoll_wait (100 ms timeout); one that
// lands between two waits — the timeout fired and the thread waits for a
// CPU — sets a flag that is not looked at again, and it polls forever
// (measured beside busy loops: a single SIGINT lost in 2 of 20 runs at
// equal priority, 5-6 of 10 when bpftrace's is lower; CI's smoke test hung
// so beside the other packages' tests). So the signal is repeated every
// 200 ms: SIGTERM, whose handler bpftrace keeps while it prints its maps
// (SIGINT's goes back to the default there, and a second one would kill
// it before it printed).
func stopBpftrace(p *proc, timeout time.Duration) error {
	return p.stopRepeating(syscall.SIGTERM, 200*time.Millisecond, timeout)
}

// bpftraceCommand runs bpftrace with args, in a private mount namespace
// with tracefs mounted (bpftrace looks for tracepoints there, and the
// host may have it unmounted), printing bpftraceAttached when attached.
func bpftraceCommand(args ...string) *exec.Cmd {
	cmd := exec.Command("unshare", append([]string{"-m", "sh", "-c",
		`mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing; exec bpftrace "$@"`, "bpftrace"}, args...)...)
	cmd.Env = append(os.Environ(), bpftraceAttached+"=1")
	return cmd
}

// startTcpdrop starts bcc's tcpdrop and waits for its header line.
func (b *bench) startTcpdrop() (*tool, error) {
	return startTool("tcpdrop", exec.Command("tcpdrop-bpfcc"), "TIME", 90*time.Second)
}

// startTool starts a tool that prints a line containing ready (on stdout
// or stderr) once it is attached, and waits up to timeout for that line.
// Of the streams the caller left unset nothing else is used. If the tool
// ends first, the error is what it printed there.
func startTool(kind string, cmd *exec.Cmd, ready string, timeout time.Duration) (*tool, error) {
	var unset []*io.Writer
	for _, s := range []*io.Writer{&cmd.Stdout, &cmd.Stderr} {
		if *s == nil {
			unset = append(unset, s)
		}
	}
	t0 := time.Now()
	p, out, err := startPiped(kind, cmd, unset...)
	if err != nil {
		return nil, err
	}
	lines := lineWaiter(out, ready)
	select {
	case line := <-lines:
		if output, ended := strings.CutPrefix(line, "EOF: "); ended {
			_ = p.wait(10 * time.Second)
			return nil, errors.New(toolError(output, p.err))
		}
	case <-time.After(timeout):
		_ = p.stop(syscall.SIGKILL, time.Second)
		output := "(its output did not end)"
		select {
		case line := <-lines:
			output = strings.TrimPrefix(line, "EOF: ")
		case <-time.After(2 * time.Second):
		}
		return nil, fmt.Errorf("no %q line within %v: %s", ready, timeout, tail(output, 300))
	}
	return &tool{kind: kind, p: p, startup: time.Since(t0)}, nil
}

// toolError keeps the lines of a tool's failure that say why (bcc's
// Python traceback does not).
func toolError(stderr string, exit error) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "", strings.HasPrefix(l, "File "), strings.HasPrefix(l, "Traceback"), strings.HasPrefix(l, "^"),
			strings.HasPrefix(l, "b = "), strings.HasPrefix(l, "raise "):
			continue
		}
		keep = append(keep, l)
	}
	msg := strings.Join(keep, "; ")
	if msg == "" {
		msg = fmt.Sprint(exit)
	}
	return tail(msg, 600)
}

func (t *tool) stop() error {
	if t == nil {
		return nil
	}
	ids, _ := ownedBPF(t.p.pid())
	var err error
	if t.kind == "bpftrace" {
		err = stopBpftrace(t.p, 180*time.Second)
	} else {
		err = t.p.stop(syscall.SIGINT, 180*time.Second)
	}
	waitProgsGone(ids, 5*time.Second)
	return err
}

// waitProgsGone waits until the kernel has freed these programs (freeing
// is deferred), so the next measurement starts without them.
func waitProgsGone(ids []int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for _, id := range ids {
		for time.Now().Before(deadline) {
			p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
			if err != nil {
				break
			}
			p.Close()
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// probeTcpdrop tries bcc's tcpdrop once: it needs kprobes (and kernel
// headers to compile), so on kernels without them it says why.
func probeTcpdrop(b *bench) TcpdropResult {
	var r TcpdropResult
	if _, err := exec.LookPath("tcpdrop-bpfcc"); err != nil {
		r.Status = "not runnable here: tcpdrop-bpfcc not installed (apt-get install bpfcc-tools)"
		return r
	}
	t, err := b.startTcpdrop()
	if err != nil {
		r.Error = err.Error()
		kp := "kprobes: available"
		if err := hookplan.KprobesAvailable(); err != nil {
			kp = err.Error() + ", which tcpdrop's kprobe on tcp_drop/tcp_v4_do_rcv needs even with headers"
		}
		r.Status = "not runnable here: " + err.Error() + " [" + kp + "]"
		return r
	}
	_ = t.stop()
	r.Runnable = true
	r.Status = "runs"
	return r
}

// ---- traffic ----------------------------------------------------------------

type iperfResult struct {
	End struct {
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
			Bytes         float64 `json:"bytes"`
		} `json:"sum_received"`
		SumSent struct {
			Retransmits int `json:"retransmits"`
		} `json:"sum_sent"`
	} `json:"end"`
	Error string `json:"error"`
}

func (b *bench) tcpRun(seconds float64) (float64, error) {
	var lastErr error
	for try := 0; try < 3; try++ {
		var r iperfResult
		err := runJSON(time.Duration(seconds+30)*time.Second, &r, "ip", "netns", "exec", b.nsA,
			"iperf3", "-c", addrB, "-p", iperfPrt, "-t", strconv.FormatFloat(seconds, 'f', -1, 64), "-J")
		if err == nil && r.Error == "" && r.End.SumReceived.BitsPerSecond > 0 {
			return r.End.SumReceived.BitsPerSecond, nil
		}
		if err == nil {
			err = fmt.Errorf("iperf3: %s", r.Error)
		}
		lastErr = err
		time.Sleep(time.Second)
	}
	return 0, lastErr
}

type udpRunResult struct {
	Send sendResult
	Recv recvResult
}

func (b *bench) udpRun(seconds float64) (udpRunResult, error) {
	var r udpRunResult
	rcmd := exec.Command("ip", "netns", "exec", b.nsB, b.self, "udprecv", "--addr", addrB+":"+udpPort,
		"--seconds", strconv.FormatFloat(seconds+20, 'f', -1, 64))
	// Not StdoutPipe: Wait closes that pipe as soon as the process exits,
	// racing the reader for the result line (seen in CI: "printed no
	// result"). Through an io.Pipe, Wait returns only once exec has copied
	// everything the process wrote.
	rout, rw := io.Pipe()
	rcmd.Stdout = rw
	rp, err := startProc("udprecv", rcmd)
	if err != nil {
		return r, err
	}
	defer rw.Close()
	ready := make(chan bool, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(rout)
		for sc.Scan() {
			switch l := sc.Text(); {
			case l == "ready":
				ready <- true
			case strings.HasPrefix(l, "{"):
				lines <- l
			}
		}
		close(lines)
		_, _ = io.Copy(io.Discard, rout)
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		_ = rp.stop(syscall.SIGKILL, time.Second)
		return r, fmt.Errorf("udprecv did not bind")
	}
	if err := runJSON(time.Duration(seconds+30)*time.Second, &r.Send, "ip", "netns", "exec", b.nsA, b.self, "udpsend",
		"--dst", addrB+":"+udpPort, "--seconds", strconv.FormatFloat(seconds, 'f', -1, 64), "--size", "64"); err != nil {
		_ = rp.stop(syscall.SIGKILL, time.Second)
		return r, err
	}
	if err := rp.wait(30 * time.Second); err != nil {
		return r, fmt.Errorf("udprecv: %w", err)
	}
	rw.Close() // all copied: the reader sees the end
	l, ok := <-lines
	if !ok {
		return r, fmt.Errorf("udprecv printed no result")
	}
	if err := json.Unmarshal([]byte(l), &r.Recv); err != nil {
		return r, err
	}
	return r, nil
}

func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

// udpDropRun floods a port nobody listens on: every datagram is dropped
// (NO_SOCKET), so the drop hook runs once per packet. The ICMP errors
// back are rate limited by the kernel; the sender counts them as errors.
func (b *bench) udpDropRun(seconds float64) (sendResult, error) {
	var r sendResult
	err := runJSON(time.Duration(seconds+30)*time.Second, &r, "ip", "netns", "exec", b.nsA, b.self, "udpsend",
		"--dst", addrB+":"+dropPort, "--seconds", strconv.FormatFloat(seconds, 'f', -1, 64), "--size", "64")
	return r, err
}

// progLabel is one program a helper announced.
type progLabel struct {
	id    int
	label string
}

// startLabelled starts a helper that loads programs, prints "prog ID
// LABEL" per program and then "ready" (empty, components).

func (b *bench) startLabelled(kind string, args ...string) ([]progLabel, *tool, error) {
	cmd := exec.Command(b.self, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	p, err := startProc(kind, cmd)
	if err != nil {
		return nil, nil, err
	}
	var labels []progLabel // in the order announced: the order attached
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), " ", 3)
			if len(f) == 3 && f[0] == "prog" {
				id, _ := strconv.Atoi(f[1])
				labels = append(labels, progLabel{id, f[2]})
			}
			if len(f) == 1 && f[0] == "ready" {
				done <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		done <- fmt.Errorf("%s: %s", kind, tail(stderr.String(), 600))
	}()
	select {
	case err := <-done:
		if err != nil {
			_ = p.wait(5 * time.Second)
			return nil, nil, err
		}
	case <-time.After(30 * time.Second):
		_ = p.stop(syscall.SIGKILL, time.Second)
		return nil, nil, fmt.Errorf("%s did not attach in 30s", kind)
	}
	return labels, &tool{kind: kind, p: p, startup: time.Since(t0)}, nil
}
