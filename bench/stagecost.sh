#!/usr/bin/env bash
# BPF run time of dropspot's programs: per --stages set (issue 17) and per
# program, for one binary or several side by side (issue 15: a change's
# cost per hook). bpf_stats run_time_ns / run_cnt of the programs one
# dropspot process holds, under 3 s of traffic in two throwaway namespaces
# joined by a veth pair (198.18.202.0/24). Unlike throughput ratios, this
# does not move with other work on a shared machine: only time inside the
# programs counts — but other tools on the same hooks, or another build's
# code layout, do move it (BENCHMARKS.md, "Per-hook cost of the NAT-aware key").
#
#   bash bench/stagecost.sh [-t udp|tcp|drop] BINDIR[,BINDIR...] SET...
#   e.g. bash bench/stagecost.sh /tmp/bin serve seed all rx.driver,tx.xmit,drops
#        REPS=8 bash bench/stagecost.sh -t tcp /tmp/new,/tmp/old all
#
# BINDIR holds dropspot and benchtool (go build ./cmd/dropspot ./bench/benchtool).
# Traffic: udp (default) a 64-byte UDP flood to a reader; drop the same flood
# to a port nobody listens on (the drop hook runs per datagram); tcp one
# iperf3 stream. Several BINDIRs run one after the other in each of REPS
# (default 3) repetitions, their order reversed every other repetition
# (ABBA), and the summary gives each program's median ns/run per binary and
# its difference to the first. Needs root, bpftool, python3 (iperf3 for tcp).
# Holds kernel.bpf_stats_enabled on while it runs and puts it back at the end.
set -euo pipefail
traffic=udp
if [[ ${1:-} == -t ]]; then traffic=$2; shift 2; fi
case $traffic in udp | tcp | drop) ;; *) echo "stagecost: -t takes udp, tcp or drop" >&2; exit 2 ;; esac
[[ $# -ge 2 ]] || { sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d' >&2; exit 2; }
IFS=, read -r -a bins <<< "$1"; shift
sfx=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
a=stagecost-a-$sfx b=stagecost-b-$sfx
out=$(mktemp -d /tmp/stagecost.XXXXXX)
ds="" stats_was=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	[[ -n $ds ]] && kill -INT $ds 2>/dev/null
	ip netns del $a 2>/dev/null || true
	ip netns del $b 2>/dev/null || true
	sysctl -qw kernel.bpf_stats_enabled=$stats_was
	rm -rf $out
}
trap cleanup EXIT
ip netns add $a; ip netns add $b
ip link add sca$sfx netns $a type veth peer name scb$sfx netns $b
ip -n $a addr add 198.18.202.1/24 dev sca$sfx; ip -n $b addr add 198.18.202.2/24 dev scb$sfx
for n in $a $b; do ip -n $n link set lo up; done
ip -n $a link set sca$sfx up; ip -n $b link set scb$sfx up
sysctl -qw kernel.bpf_stats_enabled=1

# snap FILE: every program of the dropspot process, one JSON object a line.
# An fd may close while it is read (set -e would end the script).
snap() { for id in $ids; do bpftool -j prog show id $id; echo; done > $1; }

# traffic_run BIN: 3 s of the chosen traffic; prints what was sent (datagrams, or 0).
traffic_run() {
	local bin=$1 rp
	case $traffic in
	udp)
		ip netns exec $b $bin/benchtool udprecv --addr 198.18.202.2:9001 --seconds 8 > /dev/null &
		rp=$! ;;
	tcp)
		ip netns exec $b iperf3 -s -1 -B 198.18.202.2 -p 5299 > /dev/null 2>&1 &
		rp=$! ;;
	drop) rp="" ;;
	esac
	sleep 0.2
	case $traffic in
	tcp) ip netns exec $a iperf3 -c 198.18.202.2 -p 5299 -t 3 > /dev/null 2>&1; echo 0 ;;
	*) ip netns exec $a $bin/benchtool udpsend --dst 198.18.202.2:9001 --seconds 3 2>/dev/null |
		python3 -c "import json,sys; print(json.load(sys.stdin)['sent'])" ;;
	esac
	[[ -n $rp ]] && { kill $rp 2>/dev/null || true; wait $rp 2>/dev/null || true; }
	return 0
}

for rep in $(seq ${REPS:-3}); do
	order=("${bins[@]}")
	if ((rep % 2 == 0)); then for ((i = 0; i < ${#bins[@]}; i++)); do order[i]=${bins[${#bins[@]} - 1 - i]}; done; fi
	for bin in "${order[@]}"; do
		for set in "$@"; do
			ready=$(mktemp -u /tmp/stagecost-ready.XXXXXX)
			$bin/dropspot watch --stages "$set" --duration 60s --ready-file $ready > /dev/null 2>&1 &
			ds=$!
			for i in $(seq 600); do [[ -e $ready ]] && break; sleep 0.05; done
			[[ -e $ready ]] || { echo "stagecost: $bin/dropspot --stages $set not ready after 30 s" >&2; exit 1; }
			ids=$(for fd in /proc/$ds/fdinfo/*; do awk '/^prog_id:/ {print $2}' $fd 2>/dev/null || true; done | sort -u | tr '\n' ' ')
			m=$out/$rep.$(echo "$bin" | tr / _).$set
			snap $m.before
			traffic_run $bin > $m.sent
			snap $m.after
			kill -INT $ds; wait $ds 2>/dev/null || true
			ds=""
			rm -f $ready
			echo "$rep	$bin	$set	$(cat $m.sent)	$m" >> $out/index
		done
	done
done

python3 - $out/index "${bins[0]}" <<'PY'
import json, statistics, sys

def progs(path):
    d = {}
    for line in open(path):
        line = line.strip()
        if line:
            p = json.loads(line)
            d[p["name"]] = (p.get("run_time_ns", 0), p.get("run_cnt", 0))
    return d

per = {}  # (bin, set) -> program -> [ns/run]
for line in open(sys.argv[1]):
    rep, binary, stages, sent, m = line.rstrip("\n").split("\t")
    before, after = progs(m + ".before"), progs(m + ".after")
    t = c = 0
    cells = []
    for name in sorted(after):
        dt = after[name][0] - before[name][0]
        dc = after[name][1] - before[name][1]
        t, c = t + dt, c + dc
        if dc >= 1000:  # ran on this traffic
            cells.append(f"{name}={dt / dc:.0f}")
            per.setdefault((binary, stages), {}).setdefault(name, []).append(dt / dc)
    sent = int(sent)
    pkt = f"sent {sent} runs/packet {c / sent:.2f} " if sent else ""
    tail = f" BPF ns/packet {t / sent:.0f}" if sent else ""
    print(f"rep {rep} {binary} set {stages}: {pkt}ns/run {t / max(c, 1):.0f}{tail}")
    print("   " + " ".join(cells))

first = sys.argv[2]
print("\nmedian ns/run per program" + (", and the difference to " + first if len({b for b, _ in per}) > 1 else ""))
for (binary, stages), names in sorted(per.items()):
    ref = per.get((first, stages), {})
    cells = []
    for name, xs in sorted(names.items()):
        med = statistics.median(xs)
        cell = f"{name}={med:.0f}"
        if binary != first and name in ref:
            cell += f" ({med - statistics.median(ref[name]):+.0f})"
        cells.append(cell)
    print(f"{binary} {stages}: " + " ".join(cells))
PY
