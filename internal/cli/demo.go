package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/dropspot/dropspot/internal/demo"
)

// demoCmd runs the built-in scenario: throwaway namespaces with realistic
// faults, traced and checked against each fault's ground truth.
func demoCmd(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.BoolP("verbose", "v", false, "log hook decisions to stderr")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errUsage
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
	return demo.Run(ctx, stdout, loadNamer(log), log)
}
