package cli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/dropspot/dropspot/internal/flow"
	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/report"
	"github.com/dropspot/dropspot/internal/tracer"
)

type watchFlags struct {
	duration  time.Duration
	interval  time.Duration
	json      bool
	proto     string
	host      string
	port      uint16
	netns     string
	maxFlows  int
	readyFile string
	skipHooks []string
	verbose   bool
}

func parseWatchFlags(args []string, stderr io.Writer) (*watchFlags, error) {
	f := &watchFlags{}
	fs := pflag.NewFlagSet("watch", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (default: until SIGINT/SIGTERM)")
	fs.DurationVar(&f.interval, "interval", time.Second, "live view refresh period (terminal only)")
	fs.BoolVar(&f.json, "json", false, "print the final report as JSON on stdout, and nothing else")
	fs.StringVar(&f.proto, "proto", "", "count only this IP protocol (tcp, udp, icmp, icmp6, or a number)")
	fs.StringVar(&f.host, "host", "", "count only packets from or to this address")
	fs.Uint16Var(&f.port, "port", 0, "count only TCP/UDP/SCTP packets from or to this port")
	fs.StringVar(&f.netns, "netns", "", "count only this network namespace: /proc/PID/ns/net, /run/netns/NAME, NAME or inode:N")
	fs.IntVar(&f.maxFlows, "max-flows", tracer.DefaultMaxFlows, "flow directions held before the oldest are evicted (counted)")
	fs.StringVar(&f.readyFile, "ready-file", "", "create this file once every hook is attached")
	fs.StringSliceVar(&f.skipHooks, "skip-hooks", nil, "hook families not to use: fentry, kprobe, tp_btf, netfilter, cgroup_skb")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log hook decisions to stderr")
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
	return f, nil
}

func (f *watchFlags) tracerConfig(stderr io.Writer) (tracer.Config, error) {
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}

	start := time.Now()
	t, err := tracer.Start(cfg)
	if err != nil {
		return err
	}
	defer t.Close()
	go t.Watch(ctx)
	announceReady(stderr, t.Plan, f.readyFile)

	build := func() (*report.Report, error) {
		snap, err := t.Snapshot()
		if err != nil {
			return nil, err
		}
		r := report.Build(snap, t.Plan.Hooks)
		r.NetnsHooked = t.Plan.Namespaces()
		r.DurationSeconds = time.Since(start).Seconds()
		return r, nil
	}

	if rows, ok := terminalRows(stdout); ok && !f.json {
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

	r, err := build()
	if err != nil {
		return err
	}
	if f.json {
		return report.WriteJSON(stdout, r)
	}
	return report.WriteText(stdout, r, report.TextOptions{})
}

// announceReady tells the user (one line on stderr) and any waiting
// harness (--ready-file) that every hook is attached.
func announceReady(stderr io.Writer, plan *hookplan.Plan, readyFile string) {
	var names []string
	for _, h := range plan.Hooks {
		names = append(names, h.Stage.String())
	}
	fmt.Fprintf(stderr, "dropspot: ready: %d stages hooked (%s); netfilter hooks in %d namespaces\n",
		len(plan.Hooks), strings.Join(names, " "), plan.Namespaces())
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
