#!/usr/bin/env bash
# BPF run time per packet of each --stages set (issue 17): program runs per
# packet and their run time (bpf_stats run_time_ns / run_cnt of the
# programs one dropspot process holds) under a 3 s 64-byte UDP flood, in
# two throwaway namespaces joined by a veth pair (198.18.222.0/24).
# Unlike the throughput ratios, this does not move with other work on a
# shared machine: only time inside the programs counts.
#
#   flock /work/locks/bench bash bench/stagecost.sh BINDIR SET...
#   e.g. bash bench/stagecost.sh /tmp/bin serve seed all rx.driver,tx.xmit,drops
#
# BINDIR holds dropspot and benchtool (go build ./cmd/dropspot ./bench/benchtool).
# Needs root and bpftool; REPS (default 3) repetitions of every set. Turns
# kernel.bpf_stats_enabled on while it runs and off at the end.
set -euo pipefail
bin=$1; shift
sfx=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
a=stagecost-a-$sfx b=stagecost-b-$sfx
ds=""
cleanup() { [[ -n $ds ]] && kill -INT $ds 2>/dev/null; ip netns del $a 2>/dev/null || true; ip netns del $b 2>/dev/null || true; sysctl -qw kernel.bpf_stats_enabled=0; }
trap cleanup EXIT
ip netns add $a; ip netns add $b
ip link add sca$sfx netns $a type veth peer name scb$sfx netns $b
ip -n $a addr add 198.18.222.1/24 dev sca$sfx; ip -n $b addr add 198.18.222.2/24 dev scb$sfx
for n in $a $b; do ip -n $n link set lo up; done
ip -n $a link set sca$sfx up; ip -n $b link set scb$sfx up
sysctl -qw kernel.bpf_stats_enabled=1
for rep in $(seq ${REPS:-3}); do
for set in "$@"; do
	ready=$(mktemp -u /tmp/stagecost-ready.XXXXXX)
	$bin/dropspot watch --stages "$set" --duration 60s --ready-file $ready >/dev/null 2>&1 &
	ds=$!
	for i in $(seq 600); do [[ -e $ready ]] && break; sleep 0.05; done
	[[ -e $ready ]] || { echo "stagecost: dropspot --stages $set not ready after 30 s" >&2; exit 1; }
	# An fd may close while it is read (set -e would end the script).
	ids=$(for fd in /proc/$ds/fdinfo/*; do awk '/^prog_id:/ {print $2}' $fd 2>/dev/null || true; done | sort -u | tr '\n' ' ')
	snap() { for id in $ids; do bpftool -j prog show id $id; echo; done | python3 -c "
import json,sys
t=c=0
for l in sys.stdin:
    l=l.strip()
    if not l: continue
    p=json.loads(l); t+=p.get('run_time_ns',0); c+=p.get('run_cnt',0)
print(t,c)"; }
	read t0 c0 < <(snap)
	ip netns exec $b $bin/benchtool udprecv --addr 198.18.222.2:9001 --seconds 8 > /dev/null &
	rp=$!
	sleep 0.2
	sent=$(ip netns exec $a $bin/benchtool udpsend --dst 198.18.222.2:9001 --seconds 3 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['sent'])")
	read t1 c1 < <(snap)
	kill $rp 2>/dev/null || true; wait $rp 2>/dev/null || true
	kill -INT $ds; wait $ds 2>/dev/null || true
	python3 -c "
t=$t1-$t0; c=$c1-$c0; s=$sent
print(f'rep $rep set $set: sent {s} runs/packet {c/s:.2f} ns/run {t/max(c,1):.0f} BPF ns/packet {t/s:.0f}')"
done
done
