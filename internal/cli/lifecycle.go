package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dropspot/dropspot/internal/hookplan"
	"github.com/dropspot/dropspot/internal/stage"
	"github.com/dropspot/dropspot/internal/tracer"
)

// notifyStop returns a context that ends at the first SIGINT, SIGTERM or
// SIGHUP: all three end a run the same orderly way (a closed terminal or
// a service manager must not lose the report and the files). From then
// on a second Ctrl-C ends dropspot at once, for when the orderly stop
// takes too long; a second SIGHUP or SIGTERM does not, as shells and
// terminals repeat those on their own (bash passes its SIGHUP on to its
// jobs, and the kernel sends another when the shell exits).
func notifyStop() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	context.AfterFunc(ctx, func() { signal.Reset(os.Interrupt) })
	return ctx, stop
}

// startTracer is tracer.Start, given up on at once when ctx ends first (a
// signal during attach): there is nothing to report yet, and the user
// should not wait for the remaining hooks. What is still attaching is
// closed when it is done, or by the kernel when dropspot exits (every
// link is fd-bound).
func startTracer(ctx context.Context, cfg tracer.Config) (*tracer.Tracer, error) {
	type started struct {
		t   *tracer.Tracer
		err error
	}
	done := make(chan started, 1)
	go func() {
		t, err := tracer.Start(cfg)
		done <- started{t, err}
	}()
	select {
	case s := <-done:
		return s.t, s.err
	case <-ctx.Done():
		go func() {
			if s := <-done; s.err == nil {
				s.t.Close()
			}
		}()
		return nil, errInterrupted
	}
}

// announceReady tells the user (one line on stderr) and any waiting
// harness (--ready-file) that every hook is attached.
func announceReady(stderr io.Writer, plan *hookplan.Plan, readyFile string) {
	var names []string
	drops, retransmits := "none", "none"
	for _, h := range plan.Hooks {
		switch h.Stage {
		case stage.Drops:
			drops = h.Name
		case stage.TCPRetransmit:
			retransmits = h.Name
		default:
			names = append(names, h.Stage.String())
		}
	}
	fmt.Fprintf(stderr, "dropspot: ready: %d stages hooked (%s); drops: %s; tcp retransmissions: %s; netfilter hooks in %d namespaces; stages chosen: %s\n",
		len(names), strings.Join(names, " "), drops, retransmits, plan.Namespaces(), plan.Chosen)
	if readyFile != "" {
		if err := os.WriteFile(readyFile, nil, 0o644); err != nil {
			fmt.Fprintf(stderr, "dropspot: cannot create ready file: %v\n", err)
		}
	}
}

// clearReady removes the --ready-file: one left by an earlier run must not
// announce this one, and a run that has ended is no longer ready.
func (f *traceFlags) clearReady() {
	if f.readyFile != "" {
		os.Remove(f.readyFile)
	}
}
