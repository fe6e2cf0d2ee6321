// Command benchtool is dropspot's benchmark harness, run by bench/run.sh
// (go test runs its unit tests and one brief smoke run, and judges
// nothing by time). "run" builds throwaway namespaces, measures baseline
// against dropspot, a bpftrace script and bcc's tcpdrop, and writes the
// results; the other subcommands are its helpers, run inside namespaces.
package main

import (
	"fmt"
	"os"
)

const usage = `benchtool: dropspot benchmark harness (use bash bench/run.sh)

  benchtool run [flags]        the whole benchmark (see run --help)
  benchtool udpsend [flags]    UDP sender: fixed-size datagrams for a time, prints JSON
  benchtool udprecv [flags]    UDP receiver: counts datagrams, prints JSON
  benchtool tapflood [flags]   N distinct UDP flows, one frame each, written into a TAP device
  benchtool empty [flags]      attach empty BPF programs to dropspot's hooks until SIGINT
  benchtool components [flags] attach programs doing one piece of hook work each, until SIGINT
  benchtool mapread --id N     time reading a BPF map one key at a time and in batches
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "run":
		err = runBench(args)
	case "udpsend":
		err = udpSend(args)
	case "udprecv":
		err = udpRecv(args)
	case "tapflood":
		err = tapFlood(args)
	case "empty":
		err = emptyProgs(args)
	case "components":
		err = componentsMain(args)
	case "mapread":
		err = mapRead(args)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
