// Package bpf holds dropspot's compiled BPF objects, for amd64 and arm64,
// and the Go bindings bpf2go generates for them. Nothing else lives here:
// regenerate with `go generate ./internal/bpf` (needs clang); the results
// are committed so building dropspot needs no clang. Each architecture
// compiles against its own kernel types (bpf/include/README.md).
package bpf

//go:generate go tool bpf2go -tags linux -target amd64,arm64 -type flow_key -type icmp_echo -type flow_counts -type stage_totals -type stage -type counter -type drop_key -type drop_event -type drop_kind -type drop_flag -type selftest_result -type flt_pred -type flt_rule -type pred_kind -type pred_dir -type parse_result -type window -type window_state -type netns_state -type skb_path -type bridge_ports -type nat_tuple -type nat_flag -type tcp_loss_counts Dropspot ../../bpf/dropspot.c -- -I../../bpf/include -I../../bpf/lib -Wall -Werror
//go:generate go tool bpf2go -tags linux -target amd64,arm64 Faults ../../bpf/faults/faults.c -- -I../../bpf/include -Wall -Werror
