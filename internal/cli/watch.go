package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/dropreason"
	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/kallsyms"
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
	maxFlows  int
	skipHooks []string
	verbose   bool
	readyFile string
}

func (f *traceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.proto, "proto", "", "count only this IP protocol (tcp, udp, icmp, icmp6, or a number)")
	fs.StringVar(&f.host, "host", "", "count only packets from or to this address")
	fs.Uint16Var(&f.port, "port", 0, "count only TCP/UDP/SCTP packets from or to this port")
	fs.StringVar(&f.netns, "netns", "", "count only this network namespace: /proc/PID/ns/net, /run/netns/NAME, NAME or inode:N")
	fs.IntVar(&f.maxFlows, "max-flows", tracer.DefaultMaxFlows, "flow directions held before the oldest are evicted (counted)")
	fs.StringSliceVar(&f.skipHooks, "skip-hooks", nil, "hook families not to use: fentry, kprobe, tp_btf, netfilter, cgroup_skb")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log hook decisions to stderr")
	fs.StringVar(&f.readyFile, "ready-file", "", "create this file once every hook is attached")
}

type watchFlags struct {
	traceFlags
	duration  time.Duration
	interval  time.Duration
	json      bool
	events    bool
	eventRate uint32
	stack     bool
}

func parseWatchFlags(args []string, stderr io.Writer) (*watchFlags, error) {
	f := &watchFlags{}
	fs := pflag.NewFlagSet("watch", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (default: until SIGINT/SIGTERM)")
	fs.DurationVar(&f.interval, "interval", time.Second, "live view refresh period (terminal only)")
	fs.BoolVar(&f.json, "json", false, "print the final report as JSON on stdout, and nothing else")
	f.register(fs)
	fs.BoolVar(&f.events, "events", false, "stream one JSON line per drop on stdout (the final report then goes to stderr)")
	fs.Uint32Var(&f.eventRate, "events-rate", 1000, "most drop events per second per CPU; the rest are counted as throttled")
	fs.BoolVar(&f.stack, "stack", false, "with --events: add the symbolised kernel stack of each drop")
	if err := parseFlags(fs, args, stderr); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dropspot watch: unexpected argument %q\n", fs.Arg(0))
		return nil, errUsage
	}
	if f.duration < 0 || f.interval <= 0 {
		fmt.Fprintln(stderr, "dropspot watch: --duration must be >= 0 and --interval > 0")
		return nil, errUsage
	}
	if f.events && f.json {
		fmt.Fprintln(stderr, "dropspot watch: --events and --json both want stdout; pick one")
		return nil, errUsage
	}
	if f.stack && !f.events {
		fmt.Fprintln(stderr, "dropspot watch: --stack needs --events")
		return nil, errUsage
	}
	return f, nil
}

func (f *traceFlags) tracerConfig(stderr io.Writer) (tracer.Config, error) {
	cfg := tracer.Config{MaxFlows: f.maxFlows, Log: logger(stderr, f.verbose), Skip: map[hookplan.Kind]bool{}}
	var err error
	if f.proto != "" {
		if cfg.Filter.Proto, err = flow.ParseProto(f.proto); err != nil {
			return cfg, err
		}
	}
	if f.host != "" {
		if cfg.Filter.Host, err = netip.ParseAddr(f.host); err != nil {
			return cfg, fmt.Errorf("--host: %q is not an IPv4 or IPv6 address", f.host)
		}
		cfg.Filter.Host = cfg.Filter.Host.Unmap()
	}
	cfg.Filter.Port = f.port
	if f.netns != "" {
		if cfg.Filter.Netns, err = flow.ParseNetns(f.netns); err != nil {
			return cfg, err
		}
	}
	kinds := []hookplan.Kind{hookplan.Fentry, hookplan.Kprobe, hookplan.Tracepoint, hookplan.Netfilter, hookplan.CgroupSKB}
	for _, s := range f.skipHooks {
		known := false
		for _, k := range kinds {
			if string(k) == s {
				cfg.Skip[k], known = true, true
			}
		}
		if !known {
			return cfg, fmt.Errorf("--skip-hooks: unknown hook family %q", s)
		}
	}
	if f.maxFlows < 1 {
		return cfg, fmt.Errorf("--max-flows must be at least 1")
	}
	return cfg, nil
}

func watch(args []string, stdout, stderr io.Writer) error {
	f, err := parseWatchFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := f.tracerConfig(stderr)
	if err != nil {
		return err
	}
	if f.events {
		if f.eventRate == 0 {
			return fmt.Errorf("--events-rate must be at least 1")
		}
		cfg.EventsRate, cfg.EventsStack = f.eventRate, f.stack
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}

	start := time.Now()
	names := loadNamer(cfg.Log)
	cfg.Symbols = names.Symbols
	t, err := tracer.Start(cfg)
	if err != nil {
		return err
	}
	defer t.Close()
	go t.Watch(ctx)
	eventsDone := make(chan error, 1)
	if f.events {
		go func() { eventsDone <- streamEvents(ctx, t, names, stdout) }()
	} else {
		eventsDone <- nil
	}
	announceReady(stderr, t.Plan, f.readyFile)

	build := func() (*report.Report, error) {
		snap, err := t.Snapshot()
		if err != nil {
			return nil, err
		}
		r := report.Build(snap, t.Plan.Hooks, names)
		r.NetnsHooked = t.Plan.Namespaces()
		r.DurationSeconds = time.Since(start).Seconds()
		return r, nil
	}

	if rows, ok := terminalRows(stdout); ok && !f.json && !f.events {
		live := report.NewLive(stdout, rows)
		tick := time.NewTicker(f.interval)
		defer tick.Stop()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case now := <-tick.C:
				r, err := build()
				if err != nil {
					return err
				}
				live.Frame(r, now)
			}
		}
		fmt.Fprint(stdout, "\x1b[H\x1b[2J")
	} else {
		<-ctx.Done()
	}

	if err := <-eventsDone; err != nil {
		return err
	}
	r, err := build()
	if err != nil {
		return err
	}
	switch {
	case f.json:
		return report.WriteJSON(stdout, r)
	case f.events:
		return report.WriteText(stderr, r, report.TextOptions{})
	}
	return report.WriteText(stdout, r, report.TextOptions{})
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
	return n
}

// announceReady tells the user (one line on stderr) and any waiting
// harness (--ready-file) that every hook is attached.
func announceReady(stderr io.Writer, plan *hookplan.Plan, readyFile string) {
	var names []string
	drops := "none"
	for _, h := range plan.Hooks {
		if h.Stage == stage.Drops {
			drops = h.Name
			continue
		}
		names = append(names, h.Stage.String())
	}
	fmt.Fprintf(stderr, "dropspot: ready: %d stages hooked (%s); drops: %s; netfilter hooks in %d namespaces\n",
		len(names), strings.Join(names, " "), drops, plan.Namespaces())
	if readyFile != "" {
		if err := os.WriteFile(readyFile, nil, 0o644); err != nil {
			fmt.Fprintf(stderr, "dropspot: cannot create ready file: %v\n", err)
		}
	}
}

// terminalRows reports whether w is a terminal, and its height.
func terminalRows(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, false
	}
	return int(ws.Row), true
}
