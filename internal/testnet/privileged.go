package testnet

import (
	"os"
	"os/exec"
)

// RequirePrivileged skips t unless the test runs as root, which creating
// namespaces, veth pairs and ping sockets needs. On CI (CI=true) a missing
// privilege is a failure instead: there a silently skipped integration test
// would look like a passing one.
func RequirePrivileged(t T) {
	t.Helper()
	requirePrivileged(t, os.Geteuid(), os.Getenv("CI"))
}

// requirePrivileged is RequirePrivileged with its inputs made explicit so the
// decision can be unit tested without root.
func requirePrivileged(t T, euid int, ci string) {
	t.Helper()
	if euid == 0 {
		return
	}
	const msg = "test needs root (network namespaces, veth, sysctls); run it with sudo, e.g. sudo -E go test ./..."
	if ci == "true" {
		t.Fatal("testnet: CI=true but not root: " + msg)
	} else {
		t.Skip("testnet: not root: " + msg)
	}
}

// RequireTool skips t unless the program name is installed (nft for
// NftDrop); on CI (CI=true) its absence is a failure, as for
// RequirePrivileged.
func RequireTool(t T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	msg := "testnet: test needs " + name + ", which is not installed"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	} else {
		t.Skip(msg)
	}
}
