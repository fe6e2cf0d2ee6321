# parse.awk turns one kernel's console log into tab-separated records that
# report.awk turns into Markdown. Input lines are "<host epoch seconds> <line>"
# (run.sh time-stamps the serial console as it arrives); -v start=<epoch> is
# when qemu was started.
#
# Records written:
#   kernel   <uname -r>
#   time     boot|doctor|<test binary> <seconds>   host clock
#   doctor   <line>                 `dropspot doctor` output, verbatim
#   doctor_rc <rc>
#   hook     <stage> <hook>          the hook doctor chose (or UNAVAILABLE)
#   bin      <test binary> <rc>      rc "none": the VM died while it ran
#   test     <test binary> <Test> PASS|FAIL|SKIP|NORESULT <seconds>
#   fail     <test binary> <Test> <line>   first lines a failed test printed
#   warn     <line>                  /init warnings, kernel panics and oopses
#   status   <n>                     /init's last marker: missing means the VM
#                                    never got to the end (crash, timeout)
#   tail     <line>                  the console's last lines, when status is
#                                    missing
BEGIN { OFS = "\t"; maxfail = 4; ntail = 15 }

{
	sp = index($0, " ")
	t = substr($0, 1, sp - 1) + 0
	line = substr($0, sp + 1)
	sub(/\r+$/, "", line)
	gsub(/\t/, "    ", line)
	last[NR % ntail] = line
}

# Kernel trouble, wherever it shows up.
line ~ /Kernel panic|BUG: |Oops|WARNING: CPU|watchdog: BUG|soft lockup|hung_task/ {
	print "warn", line
}

# Markers: "@@ds <what> [key=value...] uptime=<s>". A kernel message may be
# glued in front of one, so look anywhere in the line.
(m = index(line, "@@ds ")) > 0 {
	n = split(substr(line, m + 5), f, " ")
	what = f[1]
	delete kv
	for (i = 2; i <= n; i++) {
		if ((e = index(f[i], "=")) > 0)
			kv[substr(f[i], 1, e - 1)] = substr(f[i], e + 1)
		else
			kv["name"] = f[i]
	}
	if (what == "init") {
		print "kernel", kv["kernel"]
		print "time", "boot", sprintf("%.1f", t - start)
	} else if (what == "warn") {
		print "warn", substr(line, m + 5)
	} else if (what == "doctor-begin") {
		indoctor = 1; tdoc = t
	} else if (what == "doctor-end") {
		indoctor = 0
		print "doctor_rc", kv["rc"]
		print "time", "doctor", sprintf("%.1f", t - tdoc)
	} else if (what == "test-begin") {
		bin = kv["name"]; tbin = t; cur = ""
	} else if (what == "test-end") {
		end_bin(kv["rc"], t)
	} else if (what == "done") {
		print "status", kv["status"]; done = 1
	}
	next
}

indoctor {
	print "doctor", line
	# "<stage>   <hook>"; rejected candidates are indented below it, and
	# the header lines have "name:".
	if (match(line, /^[a-z0-9._]+  +[^ ]/)) {
		split(line, h, / +/)
		print "hook", h[1], substr(line, RLENGTH)
	}
	next
}

bin == "" { next }

# go test -v: "=== RUN/CONT/NAME/PAUSE TestX[/sub]" says whose output follows.
match(line, /^=== (RUN|CONT|NAME|PAUSE) +[^ ]+/) {
	split(line, w, / +/)
	cur = w[3]; sub(/\/.*/, "", cur)
	if (w[2] == "RUN" && !(cur in state)) { state[cur] = "NORESULT"; order[++ntests] = cur }
	next
}

# Top-level results only; subtests are indented.
match(line, /^--- (PASS|FAIL|SKIP): [^ ]+ \([0-9.]+s\)/) {
	split(line, w, / +/)
	name = w[3]
	if (!(name in state)) order[++ntests] = name
	state[name] = w[2]; sub(/:$/, "", state[name])
	dur[name] = w[4]; gsub(/[()s]/, "", dur[name])
	next
}

# What a test printed about itself (t.Error/t.Fatal/t.Log: "    file.go:N: ...")
# and Go panics; kept for the tests that end up failing.
cur != "" && (line ~ /^ +[A-Za-z0-9_.-]+\.go:[0-9]+: / || line ~ /^panic: |^fatal error: /) {
	msg = line; sub(/^ +/, "", msg)
	if (nmsg[cur] < maxfail) msgs[cur, ++nmsg[cur]] = msg
	next
}

function end_bin(rc, t,    i, j, name) {
	print "bin", bin, rc
	print "time", bin, sprintf("%.1f", t - tbin)
	for (i = 1; i <= ntests; i++) {
		name = order[i]
		print "test", bin, name, state[name], (name in dur) ? dur[name] : ""
		if (state[name] == "FAIL" || state[name] == "NORESULT")
			for (j = 1; j <= nmsg[name]; j++) print "fail", bin, name, msgs[name, j]
	}
	delete state; delete order; delete dur; delete msgs; delete nmsg
	ntests = 0; bin = ""; cur = ""
}

END {
	if (bin != "") end_bin("none", t)
	if (!done)
		for (i = NR - ntail + 1; i <= NR; i++)
			if (i > 0) print "tail", last[i % ntail]
}
