module github.com/dropspot/dropspot

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0
	github.com/vishvananda/netns v0.0.5
	golang.org/x/sys v0.50.0
)

require github.com/spf13/pflag v1.1.0

require github.com/vishvananda/netlink v1.3.1

require github.com/gopacket/gopacket v1.7.7 // indirect

tool github.com/cilium/ebpf/cmd/bpf2go
