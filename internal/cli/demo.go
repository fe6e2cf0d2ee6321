package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dropspot/dropspot/internal/demo"
	"github.com/dropspot/dropspot/internal/tracer"
)

// demoCmd runs the built-in scenario: throwaway namespaces with realistic
// faults, traced and checked against each fault's ground truth.
func demoCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stdout)
	verbose := fs.BoolP("verbose", "v", false, "log hook decisions to stderr")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	// Ctrl-C stops the demo between steps; everything made is removed.
	// A closed output (`dropspot demo | head`) must not kill it either:
	// SIGPIPE would, leaving its namespaces behind. Ignored, it makes the
	// next write fail (the report at the end), and the demo cleans up and
	// exits non-zero. (Notify would also catch EPIPE of the demo's own
	// sockets and stop it.)
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	log := logger(stderr, *verbose)
	return explainPrivilege(demo.Run(ctx, stdout, loadNamer(log), log))
}

// explainPrivilege says which capabilities are missing when an error is
// the kernel refusing for lack of them (the demo's first namespace, say),
// in one line: what follows the first line comes of the first refusal.
func explainPrivilege(err error) error {
	if !errors.Is(err, os.ErrPermission) || errors.Is(err, tracer.ErrPrivilege) {
		return err
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Errorf("%w: %s", tracer.ErrPrivilege, first)
}
