#!/usr/bin/env bash
# Kernel matrix: runs dropspot's privileged tests on several Debian kernels
# under qemu (TCG, no KVM needed) and writes a summary to RESULTS.md.
#
#   bash test/kernels/run.sh [KERNEL...]      default: 5.10 6.1 6.12
#
# KERNEL is a version prefix ("6.1" picks the newest linux-image-6.1*-cloud-amd64
# the private apt sources offer) or an exact package name
# ("linux-image-5.10.0-32-cloud-amd64").
#
# Per kernel: fetch the kernel package with apt without installing it (private
# apt config, cached), build an initramfs (static busybox, init.sh as /init,
# the veth module, static dropspot and test binaries), boot it with qemu,
# time-stamp the serial console into a log and parse it (parse.awk). Then
# report.awk writes RESULTS.md. Exits 1 if any kernel failed, did not boot
# or could not be fetched.
#
# Needs root only to apt-get install what is missing (qemu-system-x86,
# busybox-static, xz-utils, zstd). Network: only the Debian mirror the host's
# apt sources already use.
#
# Environment:
#   DROPSPOT_KERNEL_CACHE    cache dir (${XDG_CACHE_HOME:-/var/cache}/dropspot-kernels)
#   DROPSPOT_KERNEL_SUITES   Debian suites to look in ("bullseye bookworm trixie")
#   DROPSPOT_KERNEL_REFRESH  1: ask apt again which package is newest
#   DROPSPOT_KERNEL_PKGS     Go test packages ("./internal/tracer")
#   DROPSPOT_KERNEL_MODULES  modules to insmod, deps added ("veth nfnetlink xfrm_user")
#   DROPSPOT_KERNEL_OPTIONAL_MODULES  modules to insmod where the kernel has them ("nft_counter")
#   DROPSPOT_KERNEL_TOOLS    host programs copied in with their libraries
#                            ("nft conntrack xtables-nft-multi", for the NAT tests)
#   DROPSPOT_KERNEL_TEST_ARGS  test flags ("-test.short": the live tests
#                            run the `all` stage set only), e.g. "-test.run=TestUDP"
#   DROPSPOT_KERNEL_SMP      vCPUs of the guest (1; see smp below)
#   DROPSPOT_KERNEL_TIMEOUT  seconds one VM may run (2700)
#   DROPSPOT_KERNEL_PARALLEL how many VMs run at once (3)
#   DROPSPOT_KERNEL_APPEND   extra kernel command line (e.g. loglevel=7)
#   DROPSPOT_KERNEL_RESULTS  summary file (test/kernels/RESULTS.md)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export PATH="$PATH:/usr/local/go/bin"

cache=${DROPSPOT_KERNEL_CACHE:-${XDG_CACHE_HOME:-/var/cache}/dropspot-kernels}
suites=${DROPSPOT_KERNEL_SUITES:-bullseye bookworm trixie}
pkgs=${DROPSPOT_KERNEL_PKGS:-./internal/tracer}
# veth for the test pairs; nfnetlink and xfrm_user because the netlink
# library opens NETLINK_NETFILTER and NETLINK_XFRM sockets, which a normal
# host autoloads (the guest has no modprobe; see modprobe.sh); bridge and
# br_netfilter for the bridged tests.
modules=${DROPSPOT_KERNEL_MODULES:-veth nfnetlink xfrm_user sch_tbf bridge br_netfilter \
nf_conntrack nf_nat nf_tables nft_numgen nft_chain_nat nft_nat nft_masq nft_redir nf_conntrack_netlink nft_compat xt_nat xt_tcpudp}
# nf_tables and the nat modules above, and these programs, are what the NAT
# tests (TestNAT*; nft_numgen: TestTCPLoss) configure namespaces with: nft, iptables/ip6tables
# (xtables-nft-multi) and conntrack. Conntrack is loaded at boot, before
# dropspot starts: its BTF (module BTF, 5.11+) is how the programs read
# conntrack entries.
tools=${DROPSPOT_KERNEL_TOOLS:-nft conntrack xtables-nft-multi}
# Modules some kernels have and others built into another module
# (nft_counter is part of nf_tables.ko since 5.13): loaded where they exist.
optional_modules=${DROPSPOT_KERNEL_OPTIONAL_MODULES:-nft_counter}
# 3 kernels that all hang (side by side) still end within ~46 minutes,
# inside CI's 90 with the ~13 before the matrix.
vm_timeout=${DROPSPOT_KERNEL_TIMEOUT:-2700}
results=${DROPSPOT_KERNEL_RESULTS:-$here/RESULTS.md}
# One vCPU: with two, TCG guests oops on attach while traffic runs (an
# int3 left in dev_hard_start_xmit when a tracepoint's static key is
# patched on one vCPU while the other executes it; measured on 6.12 with
# the live-traffic tests). Not a kernel bug: the emulator's
# cross-modifying code.
smp=${DROPSPOT_KERNEL_SMP:-1}
parallel=${DROPSPOT_KERNEL_PARALLEL:-3}

aptdir=$cache/apt
work=""

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() {
	[ -z "$work" ] || rm -rf "$work"
	rm -rf "$cache"/.tmp.*
}

# need_packages installs the Debian packages that provide the given commands
# (pairs "command:package") when a command is missing.
need_packages() {
	local pair missing=()
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
	done
	[ ${#missing[@]} -eq 0 ] && return
	[ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
	log "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

# static_busybox prints the path of busybox-static's binary: a dynamically
# linked busybox (package "busybox") would not run in the initramfs.
static_busybox() {
	if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
		need_packages "busybox-static-is-missing:busybox-static"
	fi
	dpkg-query -L busybox-static | grep -m1 '/bin/busybox$'
}

# ---------------------------------------------------------------- fetching

# host_mirror prints "URI [KEYRING]" of the host's source for the Debian
# archive itself: the entry serving the host's own codename (not -security or
# -updates), from one-line .list or deb822 .sources files. Using it keeps the
# matrix on the one mirror this machine is allowed to reach.
host_mirror() {
	local codename f
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:?}")
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v want="$codename" '
			$1 == "deb" {
				i = 2; opts = ""
				if ($2 ~ /^\[/) { while ($i !~ /\]$/) opts = opts " " $(i++); opts = opts " " $(i++) }
				if ($(i + 1) != want) next
				key = ""
				if (match(opts, /signed-by=\/[^] ]+/)) key = substr(opts, RSTART + 10, RLENGTH - 10)
				print $i, key; exit
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v want="$codename" '
			BEGIN { RS = ""; FS = "\n" }
			{
				delete v
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^#/ || (c = index($i, ":")) == 0) continue
					k = tolower(substr($i, 1, c - 1)); val = substr($i, c + 1); sub(/^[ \t]+/, "", val)
					v[k] = val
				}
				if (tolower(v["enabled"]) == "no" || (" " v["types"] " ") !~ / deb /) next
				if ((" " v["suites"] " ") !~ (" " want " ")) next
				split(v["uris"], u, " ")
				print u[1], (v["signed-by"] ~ /^\//) ? v["signed-by"] : ""; exit
			}' "$f"
	done
}

# apt_setup writes the private apt configuration: its own sources list,
# state, archive cache and an empty dpkg status, so nothing the host has
# installed or configured as sources changes, and nothing gets installed.
# The host's apt.conf.d still applies (proxies, validity checks).
apt_setup() {
	local mirror key suite
	read -r mirror key < <(host_mirror | head -n1) || true
	[ -n "${mirror:-}" ] || die "no Debian source for this host's codename in /etc/apt/sources.list(.d)"
	mkdir -p "$aptdir"/state/lists/partial "$aptdir"/cache/archives/partial "$aptdir"/empty
	: >"$aptdir/state/status"
	for suite in $suites; do
		echo "deb [arch=amd64${key:+ signed-by=$key}] $mirror $suite main"
	done >"$aptdir/sources.list"
	cat >"$aptdir/apt.conf" <<-EOF
		Dir::State "$aptdir/state";
		Dir::State::status "$aptdir/state/status";
		Dir::Cache "$aptdir/cache";
		Dir::Cache::pkgcache "pkgcache.bin";
		Dir::Cache::srcpkgcache "";
		Dir::Etc::SourceList "$aptdir/sources.list";
		Dir::Etc::SourceParts "$aptdir/empty";
		Dir::Etc::Preferences "$aptdir/empty/preferences";
		Dir::Etc::PreferencesParts "$aptdir/empty";
		APT::Architecture "amd64";
		APT::Architectures { "amd64"; };
		Acquire::Languages "none";
		APT::Sandbox::User "root";
	EOF
	# Only the Packages lists: not the AppStream metadata the host's
	# apt.conf.d asks for.
	apt-config dump | grep -oE '^Acquire::IndexTargets::deb::DEP-11[^:" ]*' | sort -u |
		sed 's/$/::DefaultEnabled "false";/' >>"$aptdir/apt.conf"
}

# apt_update refreshes the private package lists, once per run (it runs in
# command substitutions, hence a file in $work rather than a variable).
apt_update() {
	[ ! -e "$work/apt-updated" ] || return 0
	local t0
	apt_setup
	log "apt-get update (private lists: $suites)"
	t0=$(now)
	apt-get -c "$aptdir/apt.conf" -q update >"$work/apt-update.log" 2>&1 ||
		{ cat "$work/apt-update.log" >&2; return 1; }
	log "apt-get update took $(since "$t0")s"
	: >"$work/apt-updated"
}

# resolve prints "PACKAGE VERSION" for a kernel spec: the newest
# linux-image-<spec>[.-]*-cloud-amd64 in the private lists (signed image,
# not -unsigned or -dbg), or the exact package named.
resolve() {
	local spec=$1 names
	if [[ $spec == linux-image-* ]]; then
		names=$spec
	else
		local re="^linux-image-${spec//./\\.}[.-].*-cloud-amd64\$"
		names=$(apt-cache -c "$aptdir/apt.conf" pkgnames linux-image- | grep -E "$re" || true)
	fi
	[ -n "$names" ] || return 1
	# shellcheck disable=SC2086 # one argument per name
	apt-cache -c "$aptdir/apt.conf" show --no-all-versions $names 2>/dev/null |
		awk '/^Package:/ { p = $2 } /^Version:/ { print p, $2 }' | newest
}

# newest reads "PACKAGE VERSION" lines and prints the one with the highest
# Debian version.
newest() {
	local p v best="" bestv=""
	while read -r p v; do
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$bestv"; then
			best=$p bestv=$v
		fi
	done
	[ -n "$best" ] && echo "$best $bestv"
}

# fetch makes sure the kernel for spec is in the cache and prints its
# directory: vmlinuz, config, modules/ (lib/modules/<ver>), kver, and
# download ("bytes seconds" of the first download). A spec resolved once is
# remembered, so a cached kernel needs no network at all.
fetch() {
	local spec=$1 memo="$cache/resolved/$1" pkg ver dir tmp deb t0
	if [ -z "${DROPSPOT_KERNEL_REFRESH:-}" ] && [ -s "$memo" ]; then
		read -r pkg ver <"$memo"
	else
		apt_update >&2 || return 1
		read -r pkg ver < <(resolve "$spec") || { echo "no package for kernel $spec in suites: $suites" >&2; return 1; }
		mkdir -p "$cache/resolved"
		echo "$pkg $ver" >"$memo"
	fi
	dir="$cache/kernels/${pkg}_$ver"
	if [ -s "$dir/kver" ]; then
		echo "$dir"
		return
	fi
	apt_update >&2 || return 1
	log "download $pkg $ver"
	tmp=$(mktemp -d "$cache/.tmp.XXXXXX") || return 1
	t0=$(now)
	(cd "$tmp" && apt-get -c "$aptdir/apt.conf" -q download "$pkg=$ver") >&2 || return 1
	deb=$(echo "$tmp"/*.deb)
	# Runs in a command substitution under `if`, where set -e is off: every
	# step is checked, and the kernel only appears in the cache when complete.
	local moddir
	mkdir "$tmp/k" &&
		echo "$(stat -c %s "$deb") $(since "$t0")" >"$tmp/k/download" &&
		dpkg-deb -x "$deb" "$tmp/root" &&
		moddir=$(find "$tmp/root" -path '*/modules/*' -name modules.order -printf '%h\n' | head -n1) &&
		[ -n "$moddir" ] &&
		# Keep what the VM needs (and the config, to look things up).
		mv "$tmp"/root/boot/vmlinuz-* "$tmp/k/vmlinuz" &&
		mv "$tmp"/root/boot/config-* "$tmp/k/config" &&
		mv "$moddir" "$tmp/k/modules" &&
		basename "$moddir" >"$tmp/k/kver" &&
		mkdir -p "$cache/kernels" &&
		rm -rf "$dir" &&
		mv "$tmp/k" "$dir" || { echo "could not unpack $pkg" >&2; return 1; }
	rm -rf "$tmp"
	echo "$dir"
}

# ---------------------------------------------------------------- initramfs

# module_file prints the path (relative to the modules dir) of a module.
module_file() {
	local moddir=$1 name=$2
	find "$moddir/kernel" -regex ".*/${name//[-_]/[-_]}\.ko\(\.xz\|\.zst\|\.gz\)?" -printf '%P\n' | head -n1
}

# decompress writes a module's plain .ko to stdout.
decompress() {
	case $1 in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -qdc "$1" ;;
	*.gz) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac
}

# add_module puts a module into the initramfs after the modules it depends
# on. Debian's packages ship no modules.dep (depmod runs at install time), so
# dependencies come from the module's own .modinfo "depends=" field.
add_module() {
	local moddir=$1 root=$2 name=$3 file out dep
	grep -qxF "$name" "$root/lib/modules/.seen" 2>/dev/null && return
	echo "$name" >>"$root/lib/modules/.seen"
	# Built in: nothing to load.
	if grep -qE "/${name//[-_]/[-_]}\.ko\$" "$moddir/modules.builtin" 2>/dev/null; then
		return
	fi
	file=$(module_file "$moddir" "$name")
	[ -n "$file" ] || { echo "module $name not found in $moddir" >&2; return 1; }
	out="$root/lib/modules/$name.ko"
	decompress "$moddir/kernel/$file" >"$out" || return 1
	for dep in $(tr '\0' '\n' <"$out" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_module "$moddir" "$root" "$dep" || return 1
	done
	echo "$name.ko" >>"$root/lib/modules/load.order"
}

# add_tools copies the host programs $tools into the initramfs's /bin, with
# the shared libraries and loader they need at the same paths as on the host,
# iptables's extensions, and iptables and ip6tables as names of
# xtables-nft-multi.
add_tools() {
	local root=$1 tool path lib
	for tool in $tools; do
		path=$(command -v "$tool") || { echo "host program $tool not found" >&2; return 1; }
		cp -L "$path" "$root/bin/$tool" || return 1
		for lib in $(ldd "$path" | grep -o '/[^ ]*'); do
			mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib" || return 1
		done
		if [ "$tool" = xtables-nft-multi ]; then
			ln -sf xtables-nft-multi "$root/bin/iptables" &&
				ln -sf xtables-nft-multi "$root/bin/ip6tables" || return 1
			lib=$(pkg-config --variable=xtlibdir xtables 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/xtables)
			mkdir -p "$root$lib" && cp -L "$lib"/*.so "$root$lib/" || return 1
		fi
	done
	mkdir -p "$root/etc" && cp /etc/protocols /etc/services "$root/etc/"
}

# build_initramfs writes a gzip'd newc cpio for the kernel in kdir to out.
# The binaries (dropspot, tests/*.test, pkg/<name>/) come from $work/bin.
build_initramfs() {
	local kdir=$1 out=$2 root m
	# Called under `if` (set -e off): every step is checked.
	root=$(mktemp -d "$work/root.XXXXXX") &&
		mkdir -p "$root"/{bin,sbin,dev,proc,sys,run,tmp,root,lib/modules,opt} &&
		cp "$busybox" "$root/bin/busybox" &&
		cp "$here/modprobe.sh" "$root/sbin/modprobe" &&
		chmod 755 "$root/sbin/modprobe" &&
		cp "$here/init.sh" "$root/init" &&
		chmod 755 "$root/init" &&
		: >"$root/lib/modules/load.order" || return 1
	for m in $modules; do
		add_module "$kdir/modules" "$root" "$m" || return 1
	done
	for m in $optional_modules; do
		[ -z "$(module_file "$kdir/modules" "$m")" ] || add_module "$kdir/modules" "$root" "$m" || return 1
	done
	rm -f "$root/lib/modules/.seen"
	add_tools "$root" || return 1
	cp -r "$work/bin" "$root/opt/dropspot" || return 1
	# The guest's go test timeout leaves time for boot and doctor, so a hung
	# test still prints its goroutines before the VM is killed.
	local test_timeout=$((vm_timeout - 60))
	[ "$test_timeout" -ge $((vm_timeout / 2)) ] || test_timeout=$((vm_timeout / 2))
	cat >"$root/opt/dropspot/config" <<-EOF || return 1
		TEST_ARGS='${DROPSPOT_KERNEL_TEST_ARGS--test.short}'
		TEST_TIMEOUT='${test_timeout}s'
	EOF
	(cd "$root" && find . | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$out" || return 1
	rm -rf "$root"
}

# build_binaries builds, once per run, the static CLI and test binaries the
# VMs run, with each package's testdata beside it.
build_binaries() {
	local pkg name
	mkdir -p "$work/bin/tests" "$work/bin/pkg"
	log "go build (static): dropspot, tests of $pkgs"
	(cd "$repo" && CGO_ENABLED=0 go build -o "$work/bin/dropspot" ./cmd/dropspot)
	for pkg in $pkgs; do
		name=${pkg#./}
		name=${name//\//.} # internal/tracer -> internal.tracer(.test)
		(cd "$repo" && CGO_ENABLED=0 go test -c -o "$work/bin/tests/$name.test" "$pkg")
		mkdir -p "$work/bin/pkg/$name"
		[ ! -d "$repo/$pkg/testdata" ] || cp -r "$repo/$pkg/testdata" "$work/bin/pkg/$name/"
	done
}

# ---------------------------------------------------------------- running

# stamp prefixes each console line with the host time it arrived and echoes
# markers and test results to stderr as progress.
stamp() {
	local line
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		printf '%s %s\n' "$EPOCHREALTIME" "$line"
		case $line in
		*@@ds\ * | "--- "*) printf '   %s\n' "$line" >&2 ;;
		esac
	done
}

# boot runs the VM and writes the time-stamped console to $2. Prints qemu's
# exit status (124: timeout).
boot() {
	local kdir=$1 console=$2 initrd=$3 rc=0
	# -nodefaults: no NIC/VGA to probe; the serial port is the only device.
	# random.trust_cpu: seed the RNG from RDRAND (-cpu max has it) so
	# nothing blocks on entropy in a VM without disks or network.
	timeout --kill-after=10 "$vm_timeout" \
		qemu-system-x86_64 -accel tcg -cpu max -m 1G -smp "$smp" \
		-nographic -nodefaults -serial stdio -no-reboot \
		-kernel "$kdir/vmlinuz" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 loglevel=5 random.trust_cpu=on ${DROPSPOT_KERNEL_APPEND:-}" \
		</dev/null 2>&1 | stamp >"$console" || rc=$? # pipefail: qemu's (stamp never fails)
	echo "$rc"
}

# run_kernel runs the whole matrix step for one kernel spec and writes its
# records to $work/records/<n>. Failures are recorded, not fatal, so the other
# kernels still run.
run_kernel() {
	local n=$1 spec=$2 rec="$work/records/$1" kdir t0 start initrd console bytes secs
	echo -e "spec\t$spec" >"$rec"
	log "kernel $spec"
	if ! kdir=$(fetch "$spec"); then
		echo -e "error\tcould not fetch the kernel package" >>"$rec"
		return 0
	fi
	local d
	d=$(basename "$kdir")
	echo -e "package\t${d%_*}\t${d##*_}" >>"$rec"
	read -r bytes secs <"$kdir/download"
	if [ "${fetched[$kdir]:-}" = 1 ]; then
		echo -e "download\t$bytes\t$secs\tcached" >>"$rec"
	else
		echo -e "download\t$bytes\t$secs\tfresh" >>"$rec"
	fi

	initrd="$work/initrd-$n.gz"
	t0=$(now)
	if ! build_initramfs "$kdir" "$initrd"; then
		echo -e "error\tcould not build the initramfs" >>"$rec"
		return 0
	fi
	echo -e "initrd\t$(stat -c %s "$initrd")\t$(since "$t0")" >>"$rec"

	mkdir -p "$cache/logs"
	console="$cache/logs/$spec.log"
	log "boot $(cat "$kdir/kver") (timeout ${vm_timeout}s); console: $console"
	start=$(now)
	local rc
	rc=$(boot "$kdir" "$console" "$initrd")
	echo -e "qemu_rc\t$rc\ntime\tvm\t$(since "$start")\nlog\t$console" >>"$rec"
	awk -v start="$start" -f "$here/parse.awk" "$console" >>"$rec"
	rm -f "$initrd"
}

main() {
	local specs=("$@") i
	[ ${#specs[@]} -gt 0 ] || specs=(5.10 6.1 6.12)
	need_packages qemu-system-x86_64:qemu-system-x86 xz:xz-utils zstd:zstd gzip:gzip dpkg-deb:dpkg
	busybox=$(static_busybox)
	[ -x "$busybox" ] || die "no static busybox"
	mkdir -p "$cache"
	# One run at a time per cache: apt's lists and the kernels are shared.
	exec 9>"$cache/lock"
	flock 9
	work=$(mktemp -d "${TMPDIR:-/tmp}/dropspot-kernels.XXXXXX")
	trap cleanup EXIT
	mkdir "$work/records"

	# Which kernels are cached already (for the report's download column).
	declare -gA fetched=()
	local dir
	for dir in "$cache"/kernels/*/; do
		[ -s "$dir/kver" ] && fetched[${dir%/}]=1
	done

	local t0
	t0=$(now)
	build_binaries
	# Kernels are fetched one after the other (apt's lists are shared),
	# then run side by side, $parallel VMs at a time: each is one
	# single-threaded TCG vCPU, and the whole matrix must fit CI's time.
	for i in "${!specs[@]}"; do
		fetch "${specs[$i]}" >/dev/null || true
	done
	for i in "${!specs[@]}"; do
		while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
			wait -n || true
		done
		run_kernel "$i" "${specs[$i]}" &
	done
	wait

	local header
	header="\`bash test/kernels/run.sh ${specs[*]}\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet 2>/dev/null || echo ' (with local changes)'): qemu $(qemu-system-x86_64 --version | awk 'NR==1 { print $4 }') TCG, -smp $smp -m 1G, on $(nproc) host cores; whole run $(since "$t0")s."
	local files=()
	for i in "${!specs[@]}"; do files+=("$work/records/$i"); done
	# report.awk exits 1 when any kernel did not pass.
	local verdict=0
	awk -v header="$header" -f "$here/report.awk" "${files[@]}" >"$results" || verdict=$?
	cat "$results"
	echo
	log "summary written to $results"
	exit "$verdict"
}

main "$@"
