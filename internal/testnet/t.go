package testnet

// T is the part of testing.TB that NewPair, NewChain, NewBridged and
// RequirePrivileged use; any *testing.T or *testing.B is one. Naming only
// these methods keeps the testing package (and its flags) out of binaries
// that build namespaces outside tests: `dropspot demo` uses Create.
type T interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Fatal(args ...any)
	Skip(args ...any)
}
