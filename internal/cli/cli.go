// Package cli is dropspot's command line: subcommands, flags, exit codes.
//
// Exit codes: 0 done; 2 the command line is wrong (unknown command or
// flag, a value out of range or malformed, flags that exclude each other,
// a filter that does not parse), found before anything is loaded; 1 the
// command could not do its job (privileges, the kernel, a namespace or
// file that is not there, a write that failed); 130 a stop signal came
// while the hooks were being attached.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"
)

// command is one subcommand: how it is called and what it does.
type command struct {
	name    string
	args    string // after "dropspot NAME"
	summary string // one line for the top-level usage
	about   string // what --help says above the flags
	run     func(args []string, stdout, stderr io.Writer) error
}

// privilegeNote is what every tracing command's --help says of rights.
const privilegeNote = "Needs root, or CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_ADMIN (to enter other network namespaces)."

// filterNote is what the commands that take a filter say of it.
const filterNote = `FILTER is a subset of pcap-filter(7), evaluated in the kernel before any
map write, e.g. 'tcp and dst port 443 and net 198.18.0.0/15'; several
arguments are joined with spaces. Syntax: go doc ./internal/filter.`

func commands() []command {
	return []command{
		{"demo", "[-v]", "break throwaway namespaces in realistic ways, trace, show what was found",
			"Build two throwaway network namespaces, break them in realistic ways, trace\n" +
				"them, and write to stdout what dropspot found beside each fault's ground\n" +
				"truth. Everything it made is removed at the end, on Ctrl-C too.\n\n" + privilegeNote, demoCmd},
		{"watch", "[flags] [FILTER]", "count until --duration, -c, --cmd or Ctrl-C, then report",
			"Count each connection's packets at every stage of the kernel network path\n" +
				"until --duration, -c or --cmd ends the run, or SIGINT, SIGTERM or SIGHUP;\n" +
				"then write the final report to stdout (to stderr when --events or -w -\n" +
				"take stdout). On a terminal a live view is shown meanwhile.\n\n" + filterNote + "\n\n" + privilegeNote, watch},
		{"serve", "[flags] [FILTER]", "keep counting and serve Prometheus metrics (/metrics, /healthz)",
			"Keep counting and serve Prometheus metrics on --listen (/metrics, /healthz)\n" +
				"until SIGINT, SIGTERM or SIGHUP.\n\n" + filterNote + "\n\n" + privilegeNote, serve},
		{"report", "[--html] FILE.json", "re-render a saved JSON report (text, or an HTML funnel page)",
			"Re-render a report saved with `dropspot watch --json >FILE.json`: the text\n" +
				"report, or with --html a self-contained HTML page, on stdout. Anything\n" +
				"that is not such a report is refused. Needs no privilege.", reportCmd},
		{"doctor", "[-v]", "show the kernel, and which hook each stage gets (and why not others)",
			"Show the kernel, BTF, capabilities and the hook plan on stdout: which hook\n" +
				"each stage gets, and why better ones were refused (once per hook family\n" +
				"when the kernel refuses the whole family). It attaches every hook once.\n\n" + privilegeNote, doctor},
	}
}

// usage is the top-level help, its columns aligned.
func usage() string {
	cmds := commands()
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.name)+1+len(c.args))
	}
	var b strings.Builder
	b.WriteString("dropspot: per-connection packet counts along the kernel network path\n\nUsage:\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  dropspot %-*s   %s\n", width, c.name+" "+c.args, c.summary)
	}
	b.WriteString("\nRun \"dropspot COMMAND --help\" for a command's arguments and flags.\n" +
		"Exit status: 0 done, 1 failed, 2 wrong command line, 130 stopped while attaching.\n")
	return b.String()
}

// Main runs one command and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage())
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return exitCode(c.name, c.run(args[1:], stdout, stderr), stderr)
		}
	}
	fmt.Fprintf(stderr, "dropspot: unknown command %q\n\n%s", args[0], usage())
	return 2
}

// exitCode says what went wrong, if anything, and turns it into the exit
// code.
func exitCode(name string, err error, stderr io.Writer) int {
	var bad usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &bad):
		fmt.Fprintf(stderr, "dropspot %s: %v\nRun \"dropspot %s --help\" for usage.\n", name, bad.err, name)
		return 2
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(stderr, "dropspot: %v\n", err)
		return 130 // as a shell reports a command ended by Ctrl-C
	default:
		fmt.Fprintf(stderr, "dropspot: %v\n", err)
		return 1
	}
}

// errHelp means help was asked for and shown; errInterrupted that a stop
// signal came before tracing began.
var (
	errHelp        = errors.New("help")
	errInterrupted = errors.New("interrupted while attaching hooks; nothing was traced")
)

// usageError is a wrong command line (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// badUsage makes a usageError.
func badUsage(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

// newFlagSet makes a command's flag set. --help writes to stdout how to
// call it: its arguments, what it does, then the flags.
func newFlagSet(name string, stdout io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		for _, c := range commands() {
			if c.name == name {
				fmt.Fprintf(stdout, "Usage: dropspot %s %s\n\n%s\n\nFlags:\n%s", c.name, c.args, c.about, fs.FlagUsages())
			}
		}
	}
	return fs
}

// parseFlags parses a subcommand's flags; maxArgs bounds the arguments
// after them (-1: any number).
func parseFlags(fs *pflag.FlagSet, args []string, maxArgs int) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return errHelp
	case err != nil:
		return usageError{err}
	case maxArgs >= 0 && fs.NArg() > maxArgs:
		return badUsage("unexpected argument %q", fs.Arg(maxArgs))
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
