#!/usr/bin/env bash
# dropspot benchmark: one command, ~10 minutes (about 2 with --quick).
#
#   bash bench/run.sh [--quick] [benchtool run flags...]
#
# Needs root, Linux with BTF; installs iperf3, bpftrace, bpfcc-tools and
# bpftool with apt-get when missing (--no-install to skip). Builds dropspot
# and the harness into a fresh /tmp/dropspot-bench-bin.* directory. The
# harness takes /tmp/dropspot-bench.lock (one run per machine), creates two
# throwaway namespaces joined by a veth pair (198.18.200.0/24; a TAP device
# 198.18.201.2/24 and sources in 198.19.0.0/16 for the scale case), and
# removes them at the end.
# Results: bench/results/<UTC time>/{results.md,results.json,*.csv,log.txt,xlated/}
# and a copy of results.md on stdout.
#
# Flags (all optional; passed to `benchtool run`):
#   --quick                   smoke run (~2 min): 2 throughput reps, short runs,
#                             1 scale rep, scale flows 10000,100000
#   --reps N                  throughput and drop-storm repetitions per tool (default 5)
#   --tcp-seconds S           iperf3 run length (default 5)
#   --udp-seconds S           UDP 64-byte flood length, drop storm too (default 4)
#   --hook-reps N             per-hook cost windows per traffic type (default 3)
#   --nat                     per-hook cost with a DNAT of the drop flood in
#                             namespace b (conntrack then runs there throughout)
#   --hook-seconds S          length of each window (default 3)
#   --startup-reps N          startup measurements (default 7)
#   --scale-flows LIST        flow counts (default 10000,100000,1000000)
#   --scale-reps N            repetitions per scale case (default 3)
#   --scale-big-reps N        repetitions for >= 10^6 flows (default 2)
#   --phases LIST             any of startup,throughput,drops,hooks,components,
#                             kprofile,scale,uprofile,sprofile (default all)
#   --hosts LIST              host shapes of the throughput and hooks phases
#                             (default bare): bare = the namespaces alone;
#                             realistic = conntrack and ~4000 iptables-nft rules
#                             shaped like a kube-proxy node's in both namespaces
#                             (needs iptables, nftables, conntrack); every
#                             configuration is measured on each shape
#   --out DIR                 results directory
#   --dropspot PATH           use this dropspot binary instead of building one
#   --no-install              do not apt-get install missing tools
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

install=1
build=1
args=()
for a in "$@"; do
	case "$a" in
	--no-install) install=0 ;;
	--dropspot=*) build=0; args+=("$a") ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$self"; exit 0 ;;
	*) args+=("$a") ;;
	esac
done
if [[ " $* " == *" --dropspot "* ]]; then build=0; fi

if [[ $(id -u) -ne 0 ]]; then
	echo "bench/run.sh: needs root (BPF, namespaces)" >&2
	exit 1
fi

tools="iperf3:iperf3 bpftrace:bpftrace tcpdrop-bpfcc:bpfcc-tools bpftool:bpftool ip:iproute2 unshare:util-linux"
if [[ " $* " == *realistic* ]]; then
	tools+=" iptables-nft-restore:iptables nft:nftables conntrack:conntrack"
fi
need=()
for t in $tools; do
	command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}")
done
if ((${#need[@]})); then
	if ((install)); then
		echo "bench/run.sh: installing ${need[*]}" >&2
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "bench/run.sh: missing ${need[*]}" >&2
		exit 1
	fi
fi

# Binaries of this run only (a concurrent build must not replace them).
bin=$(mktemp -d /tmp/dropspot-bench-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
if ((build)); then
	# Another engineer's change can leave the tree briefly unbuildable.
	for try in 1 2 3 4 5 6; do
		if go build -o "$bin/dropspot" ./cmd/dropspot; then break; fi
		if ((try == 6)); then echo "bench/run.sh: dropspot does not build" >&2; exit 1; fi
		echo "bench/run.sh: build failed, retrying in 60s" >&2
		sleep 60
	done
	args+=(--dropspot "$bin/dropspot")
fi
go build -o "$bin/benchtool" ./bench/benchtool

out=""
prev=""
for a in "${args[@]}"; do
	[[ $prev == --out ]] && out=$a
	[[ $a == --out=* ]] && out=${a#--out=}
	prev=$a
done
if [[ -z $out ]]; then
	out=bench/results/$(date -u +%Y%m%dT%H%M%SZ)
	args+=(--out "$out")
fi
mkdir -p "$out"
"$bin/benchtool" run "${args[@]}" 2> >(tee "$out/log.txt" >&2)
