package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/dropreason"
	"github.com/dropspot/dropspot/internal/filter"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/kallsyms"
	"github.com/dropspot/dropspot/internal/netns"
	"github.com/dropspot/dropspot/internal/nsname"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/tracer"
)

// traceFlags are what every tracing command takes: filters, sizes, hooks.
type traceFlags struct {
	proto     string
	host      string
	port      uint16
	netns     string
	filterPID int
	cgroup    string
	iface     string
	maxFlows  int
	maxTCP    int
	skipHooks []string
	stages    string
	verbose   bool
	readyFile string
}

// register adds the flags; stages is the command's default --stages.
func (f *traceFlags) register(fs *pflag.FlagSet, stages stage.Set) {
	fs.StringVar(&f.proto, "proto", "", "count only this IP protocol (tcp, udp, icmp, icmp6, or a number)")
	fs.StringVar(&f.host, "host", "", "count only packets from or to this address")
	fs.Uint16Var(&f.port, "port", 0, "count only TCP/UDP/SCTP packets from or to this port")
	fs.StringVar(&f.netns, "netns", "", "count only this network namespace: /proc/PID/ns/net, /run/netns/NAME, NAME or inode:N")
	fs.StringVar(&f.netns, "filter-netns", "", "same as --netns (pwru's spelling)")
	fs.IntVar(&f.filterPID, "filter-pid", 0, "count only the network namespace of this process (a container's)")
	fs.StringVar(&f.cgroup, "filter-cgroup", "", "count only the network namespace of the processes of this cgroup v2 directory (a container's)")
	fs.StringVarP(&f.iface, "interface", "i", "", "count only packets on this device (of --netns, else of dropspot's own namespace) at each stage")
	fs.IntVar(&f.maxFlows, "max-flows", tracer.DefaultMaxFlows, "flow directions held before the oldest are evicted (counted)")
	fs.IntVar(&f.maxTCP, "max-tcp-drops", tracer.DefaultMaxTCPDrops, "dropped TCP segments remembered until a retransmission matches them (the oldest are evicted, counted)")
	fs.StringSliceVar(&f.skipHooks, "skip-hooks", nil, "hook families not to use: fentry, kprobe, tp_btf, raw_tp, netfilter, cgroup_skb")
	fs.StringVar(&f.stages, "stages", stages.String(), "stages to hook, comma-separated: presets all, seed (rx.driver,rx.core,l4.rcv,drops), serve ("+
		stage.Serve.String()+") and stage names (drops: the drop hook); the others are not loaded and absent from the report")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log hook decisions to stderr")
	fs.StringVar(&f.readyFile, "ready-file", "", "create this file once every hook is attached (removed at exit)")
}

type watchFlags struct {
	traceFlags
	expr      []string // filter expression
	duration  time.Duration
	interval  time.Duration
	output    string
	json      bool
	events    bool
	eventRate uint32
	stack     bool
	pcap      string
	snaplen   uint32
	// packetBuffered writes each event at once also to a regular file
	// (pipes and terminals always get them so).
	packetBuffered bool
	count          uint64
	cmd            string
}

func parseWatchFlags(args []string, stdout io.Writer) (*watchFlags, error) {
	f := &watchFlags{}
	fs := newFlagSet("watch", stdout)
	fs.DurationVar(&f.duration, "duration", 0, "stop after tracing this long, > 0 (default: until SIGINT, SIGTERM or SIGHUP)")
	fs.DurationVar(&f.interval, "interval", time.Second, "live view refresh period (terminal only)")
	fs.StringVarP(&f.output, "output", "o", "text", "final report format: text or json")
	fs.BoolVar(&f.json, "json", false, "same as -o json: the JSON report on stdout, and nothing else")
	fs.BoolVar(&f.events, "events", false, "stream one JSON line per drop on stdout (the final report then goes to stderr)")
	fs.Uint32Var(&f.eventRate, "events-rate", 1000, "most drop events per second per CPU; the rest are counted as throttled")
	fs.BoolVar(&f.stack, "stack", false, "with --events: add the symbolised kernel stack of each drop")
	fs.StringVarP(&f.pcap, "write", "w", "", "write dropped packets to this pcapng file (- for stdout), reason and stage as comments")
	fs.BoolVarP(&f.packetBuffered, "packet-buffered", "U", false, "write each drop to -w FILE and --events at once (default: pipes and terminals at once, files at least every second)")
	fs.Uint32VarP(&f.snaplen, "snaplen", "s", 128, fmt.Sprintf("bytes of each dropped packet to capture, from its IP header (at most %d)", tracer.MaxSnaplen))
	fs.Uint64VarP(&f.count, "count", "c", 0, "stop after this many drop events (benign frees not counted)")
	fs.StringVar(&f.cmd, "cmd", "", "run this shell command and trace exactly while it runs")
	f.register(fs, stage.AllStages)
	if err := parseFlags(fs, args, -1); err != nil {
		return nil, err
	}
	f.expr = fs.Args()
	if f.json {
		f.output = "json"
	}
	switch {
	case fs.Changed("duration") && f.duration <= 0:
		// 0 would read as "stop at once" as well as "never": refused.
		return nil, badUsage("--duration must be more than 0 (leave it out to run until a signal)")
	case f.interval <= 0:
		return nil, badUsage("--interval must be more than 0")
	case f.output != "text" && f.output != "json":
		return nil, badUsage("-o %q: want text or json", f.output)
	case f.events && f.output == "json":
		return nil, badUsage("--events and -o json both want stdout; pick one")
	case f.pcap == "-" && (f.events || f.output == "json"):
		return nil, badUsage("-w - writes pcapng to stdout; it cannot be shared with --events or -o json")
	case f.stack && !f.events:
		return nil, badUsage("--stack needs --events")
	case f.snaplen == 0 || f.snaplen > tracer.MaxSnaplen:
		return nil, badUsage("--snaplen must be 1..%d", tracer.MaxSnaplen)
	case f.eventRate == 0:
		return nil, badUsage("--events-rate must be at least 1")
	}
	if stages, err := stage.ParseSet(f.stages); err == nil && f.needEvents() && !stages.Has(stage.Drops) {
		return nil, badUsage("--events, -w and -c need the drop hook: add drops to --stages")
	}
	return f, nil
}

// needEvents tells whether anything consumes drop events.
func (f *watchFlags) needEvents() bool { return f.events || f.pcap != "" || f.count > 0 }

// stdoutTaken tells whether a stream (events, pcapng) owns stdout, so the
// final report goes to stderr.
func (f *watchFlags) stdoutTaken() bool { return f.events || f.pcap == "-" }

// tracerConfig turns the flags and the filter expression (the trailing
// arguments, as tcpdump takes them) into the tracer's configuration. What
// the command line alone shows to be wrong is a usage error, found before
// the namespace flags are looked up.
func (f *traceFlags) tracerConfig(expr []string, stderr io.Writer) (tracer.Config, error) {
	cfg := tracer.Config{MaxFlows: f.maxFlows, MaxTCPDrops: f.maxTCP, Log: logger(stderr, f.verbose),
		Skip: map[hookplan.Kind]bool{}}
	if f.maxFlows < 1 || f.maxFlows > tracer.MaxFlows {
		return cfg, badUsage("--max-flows must be 1..%d", tracer.MaxFlows)
	}
	if f.maxTCP < 1 || f.maxTCP > tracer.MaxFlows {
		return cfg, badUsage("--max-tcp-drops must be 1..%d", tracer.MaxFlows)
	}
	stages, err := stage.ParseSet(f.stages)
	if err != nil {
		return cfg, badUsage("--stages: %v", err)
	}
	cfg.Stages = stages
	kinds := []hookplan.Kind{hookplan.Fentry, hookplan.Kprobe, hookplan.Tracepoint, hookplan.RawTracepoint,
		hookplan.Netfilter, hookplan.CgroupSKB}
	for _, s := range f.skipHooks {
		if !slices.Contains(kinds, hookplan.Kind(s)) {
			return cfg, badUsage("--skip-hooks: unknown hook family %q (want fentry, kprobe, tp_btf, raw_tp, netfilter or cgroup_skb)", s)
		}
		cfg.Skip[hookplan.Kind(s)] = true
	}
	prog, err := f.filterProgram(strings.Join(expr, " "), stderr)
	if err != nil {
		return cfg, usageError{err}
	}
	cfg.Filter.Program = prog
	cfg.Filter.Netns, cfg.Filter.Ifindex, err = f.scope()
	return cfg, err
}

// scope resolves the namespace and device flags to a netns inode and an
// ifindex in it (0 = any).
func (f *traceFlags) scope() (ino, ifindex uint32, err error) {
	named := 0
	for _, given := range []bool{f.netns != "", f.filterPID != 0, f.cgroup != ""} {
		if given {
			named++
		}
	}
	if named > 1 {
		return 0, 0, badUsage("--netns, --filter-pid and --filter-cgroup each name a namespace: give one")
	}
	path := ""
	switch {
	case f.netns != "":
		path, err = netnsPath(f.netns)
	case f.filterPID != 0:
		path = fmt.Sprintf("/proc/%d/ns/net", f.filterPID)
	case f.cgroup != "":
		path, err = cgroupNetns(f.cgroup)
	}
	if err != nil {
		return 0, 0, err
	}
	if path != "" {
		if ino, err = netns.Inode(path); err != nil {
			return 0, 0, err
		}
	}
	if f.iface != "" {
		if path == "" {
			path = netns.Self
			if ino, err = netns.Inode(path); err != nil {
				return 0, 0, err
			}
		}
		if ifindex, err = interfaceIndex(path, f.iface); err != nil {
			return 0, 0, err
		}
	}
	return ino, ifindex, nil
}

// filterProgram compiles the expression ANDed with the shorthand flags
// (--proto, --host, --port). A bad expression is shown with a caret under
// the offending token.
func (f *traceFlags) filterProgram(expr string, stderr io.Writer) (filter.Program, error) {
	parts := []string{}
	if strings.TrimSpace(expr) != "" {
		if _, err := filter.Compile(expr); err != nil {
			var ferr *filter.Error
			if errors.As(err, &ferr) && ferr.Col > 0 {
				fmt.Fprintf(stderr, "  %s\n  %s^\n", expr, strings.Repeat(" ", ferr.Col-1))
			}
			return nil, err
		}
		parts = append(parts, "("+expr+")")
	}
	if f.proto != "" {
		n, err := flow.ParseProto(f.proto)
		if err != nil {
			return nil, err
		}
		parts = append(parts, fmt.Sprintf("proto %d", n))
	}
	if f.host != "" {
		addr, err := netip.ParseAddr(f.host)
		if err != nil {
			return nil, fmt.Errorf("--host: %q is not an IPv4 or IPv6 address", f.host)
		}
		parts = append(parts, "host "+addr.Unmap().String())
	}
	if f.port != 0 {
		parts = append(parts, fmt.Sprintf("port %d", f.port))
	}
	return filter.Compile(strings.Join(parts, " and "))
}

func watch(args []string, stdout, stderr io.Writer) error {
	f, err := parseWatchFlags(args, stdout)
	if err != nil {
		return err
	}
	cfg, err := f.tracerConfig(f.expr, stderr)
	if err != nil {
		return err
	}
	if f.needEvents() {
		cfg.EventsRate = f.eventRate
		cfg.EventsStack = f.stack
		if f.pcap != "" {
			cfg.Snaplen = f.snaplen
		}
	}
	signalled, stopSignals := notifyStop()
	defer stopSignals()
	f.clearReady()
	defer f.clearReady()

	sinks, err := openSinks(f, stdout)
	if err != nil {
		return err
	}
	names := loadNamer(cfg.Log)
	cfg.Symbols = names.Symbols
	t, err := startTracer(signalled, cfg)
	if err != nil {
		return errors.Join(err, sinks.close())
	}
	defer t.Close()
	if f.needEvents() && !t.Plan.Hooked(stage.Drops) {
		sinks.close()
		return fmt.Errorf("--events, -w and -c need the drop hook, which this kernel refused: %s", rejections(t.Plan, stage.Drops))
	}

	ctx := signalled
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	ctx, finish := context.WithCancel(ctx)
	defer finish()
	watching := make(chan struct{})
	go func() { t.Watch(ctx); close(watching) }()
	var (
		events  *tracer.EventStream
		written *eventWriter
	)
	if f.needEvents() {
		written = newEventWriter(names.ForPlan(t.Plan.Hooks), sinks, f.count, finish)
		if events, err = t.StartEvents(written.write); err != nil {
			sinks.close()
			return err
		}
	}
	start := time.Now()
	announceReady(stderr, t.Plan, f.readyFile)
	cmdDone := make(chan error, 1)
	if f.cmd != "" {
		go func() { cmdDone <- runCommand(ctx, f.cmd, stderr); finish() }()
	} else {
		cmdDone <- nil
	}

	build := func() (*report.Report, error) {
		snap, err := t.Snapshot()
		if err != nil {
			return nil, err
		}
		r := report.Build(snap, t.Plan.Hooks, names)
		r.NetnsHooked = t.Plan.Namespaces()
		r.Stages = t.Plan.Chosen.String()
		r.DurationSeconds = time.Since(start).Seconds()
		return r, nil
	}
	if err := f.showUntil(ctx, stdout, build); err != nil {
		return err
	}
	// The namespace watcher has said all it will (on stderr): nothing of
	// it may come between the lines of the report.
	<-watching
	// Stop in the order that loses nothing: the command is over; admission
	// ends and the packets already admitted finish their path; every event
	// the kernel made is written; the files are complete; then the counts
	// are read.
	err = errors.Join(<-cmdDone, t.Drain(context.Background()))
	if events != nil {
		err = errors.Join(err, events.Drain(), written.err)
	}
	if err = errors.Join(err, sinks.close()); err != nil {
		return err
	}
	r, err := build()
	if err != nil {
		return err
	}
	out := stdout
	if f.stdoutTaken() {
		out = stderr
	}
	if f.output == "json" {
		widenPipe(out)
		return report.WriteJSON(out, r)
	}
	return report.WriteText(out, r, report.TextOptions{})
}

// showUntil refreshes the live view on a terminal until ctx ends; elsewhere
// it only waits.
func (f *watchFlags) showUntil(ctx context.Context, stdout io.Writer, build func() (*report.Report, error)) error {
	rows, cols, ok := terminalSize(stdout)
	if !ok || f.output != "text" || f.stdoutTaken() {
		<-ctx.Done()
		return nil
	}
	live := report.NewLive(stdout, rows, cols)
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprint(stdout, "\x1b[H\x1b[2J")
			return nil
		case now := <-tick.C:
			r, err := build()
			if err != nil {
				return err
			}
			if rows, cols, ok := terminalSize(stdout); ok {
				live.Resize(rows, cols) // the window may have been resized
			}
			live.Frame(r, now)
		}
	}
}

// rejections says why a stage got no hook.
func rejections(p *hookplan.Plan, s stage.Stage) string {
	var why []string
	for _, r := range p.Rejected {
		if r.Stage == s {
			why = append(why, r.Candidate+": "+r.Reason)
		}
	}
	return strings.Join(why, "; ")
}

// runCommand runs the user's command through the shell, its output on
// stderr so stdout keeps only dropspot's own output.
func runCommand(ctx context.Context, command string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("--cmd: %w", err)
	}
	return nil
}

// loadNamer reads what names kernel numbers. Without them reports show
// numbers, so failures are warnings, not errors.
func loadNamer(log *slog.Logger) report.Namer {
	var n report.Namer
	var err error
	if n.Reasons, err = dropreason.Load(); err != nil {
		log.Warn("drop reasons will show as numbers", "err", err)
	}
	if n.Symbols, err = kallsyms.Load(); err != nil {
		log.Warn("drop locations will show as addresses", "err", err)
	}
	n.Links = nsname.NewIfnames()
	return n
}

// terminalSize reports whether w is a terminal, and its rows and columns.
func terminalSize(w io.Writer) (rows, cols int, ok bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, 0, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0, false
	}
	return int(ws.Row), int(ws.Col), true
}

// widenPipe raises the buffer of a pipe dropspot writes to from 64 KiB to
// 1 MiB (the default pipe-max-size): a full table's JSON is hundreds of
// megabytes, and with 64 KiB the writer waited for the reader every 64 KiB
// (measured at 10^6 flows: writing took 3 s where encoding takes 0.5 s).
// Anything else (a file, a terminal) refuses, and that is fine.
func widenPipe(w io.Writer) {
	if f, ok := w.(*os.File); ok {
		_, _ = unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
	}
}
