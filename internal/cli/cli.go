// Package cli is dropspot's command line: subcommands, flags, exit codes.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/pflag"
)

const usage = `dropspot: per-connection packet counts along the kernel network path

Usage:
  dropspot demo                    break throwaway namespaces in realistic ways, trace, show what was found
  dropspot watch [flags] [FILTER]   count until --duration or Ctrl-C, then report
                                   FILTER: pcap-filter subset, e.g. 'tcp and dst port 443 and net 198.18.0.0/16' 
  dropspot serve [flags] [FILTER]   keep counting and serve Prometheus metrics (/metrics, /healthz)
  dropspot report [--html] FILE.json  re-render a saved JSON report (text, or an HTML funnel page)
  dropspot doctor                  show the kernel, and which hook each stage gets (and why not others)

Run "dropspot COMMAND --help" for a command's flags.
`

// Main runs one command and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "watch":
		err = watch(args[1:], stdout, stderr)
	case "demo":
		err = demoCmd(args[1:], stdout, stderr)
	case "serve":
		err = serve(args[1:], stdout, stderr)
	case "report":
		err = reportCmd(args[1:], stdout, stderr)
	case "doctor":
		err = doctor(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "dropspot: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if errors.Is(err, errInterrupted) {
		fmt.Fprintf(stderr, "dropspot: %v\n", err)
		return 130 // as a shell reports a command ended by Ctrl-C
	}
	if err != nil {
		fmt.Fprintf(stderr, "dropspot: %v\n", err)
		return 1
	}
	return 0
}

// errUsage means the command line was wrong and the user has been told
// how; errHelp that help was asked for and shown; errInterrupted that a
// stop signal came before tracing began.
var (
	errUsage       = errors.New("usage")
	errHelp        = errors.New("help")
	errInterrupted = errors.New("interrupted while attaching hooks; nothing was traced")
)

// parseFlags parses a subcommand's flags, saying what is wrong on stderr.
func parseFlags(fs *pflag.FlagSet, args []string, stderr io.Writer) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return errHelp
	case err != nil:
		fmt.Fprintf(stderr, "dropspot %s: %v\nRun \"dropspot %s --help\" for the flags.\n", fs.Name(), err, fs.Name())
		return errUsage
	}
	return nil
}

func logger(stderr io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}
