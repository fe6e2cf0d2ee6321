#!/bin/busybox sh
# /init of the kernel-matrix VM (run.sh puts it into the initramfs).
#
# PID 1 in an initramfs that holds only static busybox, a few kernel modules
# and dropspot's static binaries. Everything goes to the serial console, which
# the host time-stamps and parses: lines starting with "@@ds " are markers
# (parse.awk), the rest is `dropspot doctor` and `go test -v` output.
#
# PID 1 must never exit (the kernel would panic), so every path ends in
# `poweroff -f`, and nothing here uses `set -e`.

# No /dev/console in the archive (making device nodes on the host needs
# root), so attach stdio to the console once devtmpfs is mounted.
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin HOME=/root TMPDIR=/tmp

uptime() { cut -d' ' -f1 /proc/uptime; }
mark() { echo "@@ds $* uptime=$(uptime)"; }

mount -t proc proc /proc
mark init kernel=$(uname -r)
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
# The same file systems a systemd host has: dropspot finds the cgroup v2 root
# in /proc/self/mounts, pins nothing in bpffs, and its tests may use tracefs.
mount -t cgroup2 cgroup2 /sys/fs/cgroup || mark warn mount=cgroup2
mount -t bpf bpf /sys/fs/bpf || mark warn mount=bpffs
if [ -d /sys/kernel/tracing ]; then
	mount -t tracefs tracefs /sys/kernel/tracing || mark warn mount=tracefs
fi
ip link set lo up

# Modules in dependency order, decompressed on the host (busybox insmod
# cannot read .ko.xz / .ko.zst).
for m in $(cat /lib/modules/load.order); do
	insmod "/lib/modules/$m" || mark warn insmod=$m
done

# Set by the host: TEST_ARGS, TEST_TIMEOUT.
. /opt/dropspot/config
# The guest has no Go toolchain: a test package that runs the CLI can find
# the prebuilt static binary here instead of building it.
export DROPSPOT_BINARY=/opt/dropspot/dropspot

mark doctor-begin
/opt/dropspot/dropspot doctor
mark doctor-end rc=$?

status=0
for bin in /opt/dropspot/tests/*.test; do
	[ -e "$bin" ] || continue
	name=${bin##*/}
	name=${name%.test}
	# Like `go test`: run in the package's directory (testdata is there).
	mark test-begin "$name"
	(cd "/opt/dropspot/pkg/$name" &&
		CI=true "$bin" -test.v -test.count=1 -test.timeout="$TEST_TIMEOUT" $TEST_ARGS)
	rc=$?
	mark test-end "$name" rc=$rc
	[ "$rc" -eq 0 ] || status=1
done

mark done status=$status
sync
poweroff -f
# poweroff -f does not return; if it ever did, keep PID 1 alive until the
# host's timeout instead of panicking.
while :; do sleep 3600; done
