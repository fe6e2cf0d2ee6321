// Package testnet builds throwaway network namespaces for dropspot's
// privileged integration tests and sends traffic through them whose packet
// counts are known exactly, so the tool's per-flow, per-stage counters can be
// checked against a ground truth: the namespace's own SNMP counters.
//
// It follows the project's network rules for tests: only addresses in
// 198.18.0.0/15 and 2001:db8::/32 are used, every traffic loop is bounded in
// count and in time, and everything created is deleted by t.Cleanup. Tests
// know their flows by address, so each topology's IPv4 /24s are its own
// while it lives, across every test process on the host (subnet.go).
//
// A network namespace is a property of an OS thread (setns(2)), not of a
// goroutine. Every function here that enters a namespace does so on a fresh
// goroutine locked to its thread, so the caller's thread never changes
// namespace. Sockets keep the namespace they were created in, which is what
// the traffic generators rely on: sockets are created inside the namespace
// and then used from ordinary goroutines.
package testnet
