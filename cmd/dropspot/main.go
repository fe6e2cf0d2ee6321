// Command dropspot counts, for every connection on a Linux host, how many
// of its packets reached each stage of the kernel network path.
package main

import (
	"os"

	"github.com/dropspot/dropspot/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
