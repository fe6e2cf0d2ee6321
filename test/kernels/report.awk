# report.awk writes the Markdown summary of a matrix run from the record
# files of its kernels, one file per kernel in matrix order (records: see
# parse.awk, plus those run.sh adds: spec, package, download, initrd,
# qemu_rc, log, error). -v header="..." is put under the title.
BEGIN { FS = "\t" }

FNR == 1 { k = ++nk }

{ rec = $1 }
rec == "spec"      { spec[k] = $2 }
rec == "kernel"    { kernel[k] = $2 }
rec == "package"   { pkg[k] = $2 " " $3 }
rec == "download"  { dl[k] = ($4 == "cached") ? sprintf("cached (%s MB)", mb($2)) : sprintf("%s MB in %ss", mb($2), $3) }
rec == "initrd"    { initrd[k] = sprintf("%s MB in %ss", mb($2), $3) }
rec == "time"      { tm[k, $2] = $3; if ($2 != "boot" && $2 != "doctor" && $2 != "vm") tests_s[k] = sprintf("%.1f", tests_s[k] + $3) }
rec == "status"    { status[k] = $2 }
rec == "doctor_rc" { doctor_rc[k] = $2 }
rec == "doctor"    { doc[k, ++ndoc[k]] = $2; anydoc = 1 }
rec == "error"     { err[k] = err[k] (err[k] == "" ? "" : "; ") $2 }
rec == "warn"      { if (nwarn[k] < 5) warn[k, ++nwarn[k]] = $2 }
rec == "qemu_rc"   { qemu_rc[k] = $2 }
rec == "tail"      { tail[k, ++ntail[k]] = $2 }
rec == "log"       { logf[k] = $2 }
rec == "hook" {
	if (!($2 in stage_seen)) { stage_seen[$2] = 1; stages[++nstages] = $2 }
	hook[k, $2] = $3
}
rec == "test" {
	id = pkgname($2) " " $3
	if (!(id in test_seen)) { test_seen[id] = 1; tests[++ntests] = id }
	res[k, id] = $4; dur[k, id] = $5
	total[k]++
	if ($4 != "PASS" && $4 != "SKIP") failed[k]++
}
rec == "fail" { id = pkgname($2) " " $3; fmsg[k, id, ++nf[k, id]] = $4 }

# pkgname turns a test binary's name back into its package (run.sh writes
# "internal/tracer" as "internal.tracer").
function pkgname(bin) { gsub(/\./, "/", bin); return bin }
function secs(s) { return s == "" ? "-" : s "s" }
function mb(bytes) { return sprintf("%.1f", bytes / 1048576) }
function dflt(s, d) { return s == "" ? d : s }
# cell escapes what would end a Markdown table cell.
function cell(s) { gsub(/\|/, "\\|", s); return s }
function label(i) { return kernel[i] != "" ? kernel[i] : spec[i] }

# result says in a few words how a kernel did; ok[i] is set when it passed.
function result(i) {
	if (err[i] != "") return "ERROR: " err[i]
	if (kernel[i] == "") return "DID NOT BOOT (qemu rc " dflt(qemu_rc[i], "?") ")"
	if (status[i] == "") return "DID NOT FINISH (qemu rc " dflt(qemu_rc[i], "?") (qemu_rc[i] == 124 ? ", timeout" : "") ")"
	if (doctor_rc[i] != 0) doctor_note = ", doctor rc " doctor_rc[i]; else doctor_note = ""
	if (status[i] == 0 && failed[i] == 0 && total[i] > 0 && doctor_note == "") { ok[i] = 1; return "PASS (" total[i] " tests)" }
	return "FAIL (" failed[i] + 0 " of " total[i] + 0 " tests failed" doctor_note ")"
}

function row(cells) { print "| " cells " |" }

END {
	print "# Kernel matrix results"
	print ""
	print header
	print ""
	row("kernel | package | result | download | initramfs | boot | doctor | tests | VM total")
	print "|---|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= nk; i++)
		row(label(i) " (" spec[i] ") | " dflt(pkg[i], "-") " | " result(i) " | " dflt(dl[i], "-") " | " dflt(initrd[i], "-") \
		    " | " secs(tm[i, "boot"]) " | " secs(tm[i, "doctor"]) " | " secs(tests_s[i]) " | " secs(tm[i, "vm"]))
	print ""
	print "Times are wall-clock seconds on the host (qemu TCG): boot = qemu start to /init, doctor = `dropspot doctor`, tests = the test binaries."

	if (nstages > 0) {
		print ""
		print "## Hook per stage (`dropspot doctor`)"
		print ""
		line = "stage"; sep = "|---|"
		for (i = 1; i <= nk; i++) { line = line " | " label(i); sep = sep "---|" }
		row(line); print sep
		for (s = 1; s <= nstages; s++) {
			line = "`" stages[s] "`"
			for (i = 1; i <= nk; i++) line = line " | " cell(dflt(hook[i, stages[s]], "-"))
			row(line)
		}
	}

	if (ntests > 0) {
		print ""
		print "## Tests"
		print ""
		line = "test"; sep = "|---|"
		for (i = 1; i <= nk; i++) { line = line " | " label(i); sep = sep "---|" }
		row(line); print sep
		for (j = 1; j <= ntests; j++) {
			line = tests[j]
			for (i = 1; i <= nk; i++) {
				r = res[i, tests[j]]
				line = line " | " (r == "" ? "-" : r (dur[i, tests[j]] == "" ? "" : " " dur[i, tests[j]] "s"))
			}
			row(line)
		}
	}

	nfailing = 0
	for (i = 1; i <= nk; i++) { result(i); if (!ok[i]) nfailing++ }
	if (nfailing > 0) {
		print ""
		print "## Failures"
		for (i = 1; i <= nk; i++) {
			if (ok[i]) continue
			print ""
			print "### " label(i)
			print ""
			print "Result: " result(i) (logf[i] != "" ? "; console log: `" logf[i] "`" : "")
			for (w = 1; w <= nwarn[i]; w++) print "- warning: `" warn[i, w] "`"
			if (ntail[i] > 0) {
				print "- last lines of the console:"
				print ""
				print "  ```"
				for (w = 1; w <= ntail[i]; w++) print "  " tail[i, w]
				print "  ```"
			}
			for (j = 1; j <= ntests; j++) {
				id = tests[j]
				if (res[i, id] != "FAIL" && res[i, id] != "NORESULT") continue
				print "- " id " " res[i, id] ":"
				for (m = 1; m <= nf[i, id]; m++) print "  - `" fmsg[i, id, m] "`"
			}
		}
	}

	if (anydoc) {
		print ""
		print "## `dropspot doctor` output"
		for (i = 1; i <= nk; i++) {
			if (ndoc[i] == 0) continue
			print ""
			print "<details><summary>" label(i) "</summary>"
			print ""
			print "```"
			for (d = 1; d <= ndoc[i]; d++) print doc[i, d]
			print "```"
			print "</details>"
		}
	}
	exit (nfailing > 0)
}
