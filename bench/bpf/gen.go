// Package bpf holds the benchmark's compiled BPF objects, for amd64 and
// arm64, and the Go bindings bpf2go generates for them: the components
// phase's programs (bpf/bench/components.c). Benchmark only: dropspot
// never loads them. Regenerate with `go generate ./bench/bpf` (needs
// clang); the results are committed like internal/bpf's.
package bpf

//go:generate go tool bpf2go -tags linux -target amd64,arm64 Components ../../bpf/bench/components.c -- -I../../bpf/include -I../../bpf/lib -Wall -Werror
