#!/usr/bin/env bash
# `meson install` into a DESTDIR, as a packager runs it, and the tree it
# makes: programs where a Debian package has them (daemons in sbindir),
# executable, with the configured prefix's paths built in; man pages that
# render without a warning and describe every option and command the
# programs take; bash completions that load, by each program's name too,
# and offer every option; systemd units that systemd-analyze verify
# accepts (it fails on a broken one: shown by breaking one here), whose
# ExecStart runs a host that hvis-ctl reaches where the unit says.
# Usage: install.sh BUILDDIR KEY=DIR... (prefix, bindir, sbindir, mandir,
# libexecdir, sysconfdir, unitdir, completiondir: absolute, as configured;
# unitdir or completiondir empty when not installed).
set -uo pipefail
build=$1; shift
declare -A dir
for kv in "$@"; do dir[${kv%%=*}]=${kv#*=}; done

T=$(mktemp -d "${TMPDIR:-/tmp}/hvis-install.XXXXXX")
D=$T/dest
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${HVIS_TEST_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# What the checks need, from scripts/setup-deps.sh's test packages.
for tool in man groff systemd-analyze python3; do
	command -v "$tool" >/dev/null || { echo "SKIP: no $tool"; exit 77; }
done
bc_main=/usr/share/bash-completion/bash_completion
[ -r "$bc_main" ] || { echo "SKIP: bash-completion not installed"; exit 77; }

meson install -C "$build" --destdir "$D" --no-rebuild --quiet >"$T/install.log" 2>&1 ||
	fail "meson install: $(cat "$T/install.log")"

# --- the programs: daemons in sbindir, tools in bindir, all executable
sbin=$D${dir[sbindir]} bin=$D${dir[bindir]}
for f in "$sbin/hvis-host" "$sbin/hvis-guest" "$bin/hvis-ctl" "$bin/hvis-bench" \
	"$D${dir[libexecdir]}/hvis/hv_get_dns_info" \
	"$D${dir[libexecdir]}/hvis/hv_get_dhcp_info" \
	"$D${dir[libexecdir]}/hvis/hv_set_ifconfig"; do
	[ -f "$f" ] && [ -x "$f" ] || fail "not installed executable: ${f#"$D"}"
done
for f in "$bin/hvis-host" "$bin/hvis-guest" "$sbin/hvis-ctl" "$sbin/hvis-bench"; do
	[ ! -e "$f" ] || fail "installed in the wrong directory: ${f#"$D"}"
done
for p in "$sbin/hvis-host" "$sbin/hvis-guest" "$bin/hvis-ctl" "$bin/hvis-bench"; do
	"$p" --version | grep -Eq "^${p##*/} [0-9]+\.[0-9]+\.[0-9]+$" ||
		fail "${p#"$D"} --version"
done
# The installed guest uses the helpers of the configured prefix, not the
# build tree's (it says where they are when it starts).
XDG_STATE_HOME=$T/state "$sbin/hvis-guest" --vmbus "$T/none.sock" \
	2>"$T/guest.log" && fail "guest attached to nothing"
grep -qF "KVP helpers in ${dir[libexecdir]}/hvis;" "$T/guest.log" ||
	fail "installed guest's helpers: $(cat "$T/guest.log")"

# --- man pages: every one rendered without a warning, substituted
man1=$D${dir[mandir]}/man1 man8=$D${dir[mandir]}/man8
pages=("$man8/hvis-host.8" "$man8/hvis-guest.8" "$man1/hvis-ctl.1"
	"$man1/hvis-bench.1")
for page in "${pages[@]}"; do
	[ -f "$page" ] || fail "no man page ${page#"$D"}"
	! grep -n '@[A-Z]*@' "$page" || fail "${page##*/}: not substituted"
	# The text as it prints, hyphens made ASCII.
	MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" >"$T/man.out" \
		2>"$T/man.err" || fail "man ${page##*/} exited $?"
	sed 's/\xe2\x80\x90/-/g; s/\xe2\x88\x92/-/g' "$T/man.out" >"$T/${page##*/}.txt"
	[ ! -s "$T/man.err" ] || fail "man ${page##*/} warns: $(cat "$T/man.err")"
	groff -ww -man -z "$page" 2>"$T/man.err"
	[ ! -s "$T/man.err" ] || fail "groff ${page##*/} warns: $(cat "$T/man.err")"
	grep -q '^EXIT STATUS' "$T/${page##*/}.txt" &&
		grep -q '^SEE ALSO' "$T/${page##*/}.txt" ||
		fail "${page##*/}: no EXIT STATUS or SEE ALSO"
done
grep -qF "${dir[libexecdir]}/hvis/" "$T/hvis-guest.8.txt" ||
	fail "hvis-guest.8 does not name ${dir[libexecdir]}/hvis"
# Every option a program's --help lists is in its man page...
for p in "$sbin/hvis-host:hvis-host.8" "$sbin/hvis-guest:hvis-guest.8" \
	"$bin/hvis-ctl:hvis-ctl.1" "$bin/hvis-bench:hvis-bench.1"; do
	prog=${p%%:*} page=${p##*:}
	{ "$prog" --help; [ "$page" != hvis-bench.1 ] || "$prog" ring --help; } |
		grep -oE -- '--[a-z][a-z-]*' | sort -u >"$T/opts"
	[ -s "$T/opts" ] || fail "${prog##*/} --help lists no option"
	while read -r o; do
		grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" "$T/$page.txt" ||
			fail "$page does not describe $o"
	done <"$T/opts"
done
# ... and every command hvis-ctl knows (it names them when refusing one).
"$bin/hvis-ctl" bogus 2>&1 | sed -E 's/.*\(commands: (.*); see.*/\1/' |
	tr -d '\n' | sed 's/, /\n/g' >"$T/cmds"
[ "$(wc -l <"$T/cmds")" -ge 3 ] || fail "hvis-ctl's commands: $(cat "$T/cmds")"
while read -r first rest; do
	for sub in ${rest//|/ }; do
		grep -qE "^ +$first $sub( |$)" "$T/hvis-ctl.1.txt" ||
			fail "hvis-ctl.1 does not describe '$first $sub'"
	done
	[ -n "$rest" ] || grep -qE "^ +$first( |$)" "$T/hvis-ctl.1.txt" ||
		fail "hvis-ctl.1 does not describe '$first'"
done <"$T/cmds"

# --- bash completions: one file, found by every program's name
progs=(hvis-ctl hvis-host hvis-guest hvis-bench)
if [ -n "${dir[completiondir]}" ]; then
	comp=$D${dir[completiondir]}
	for p in "${progs[@]}"; do
		[ -f "$comp/$p" ] || fail "no completion $comp/$p"
		bash -c 'source "$1" && complete -p "$2"' _ "$comp/$p" "$p" \
			>/dev/null 2>"$T/comp.err" || fail "$p: completion: $(cat "$T/comp.err")"
		[ ! -s "$T/comp.err" ] || fail "$p: sourcing said $(cat "$T/comp.err")"
	done
	# bash-completion's own loader finds them by name, in the data
	# directory they were installed under.
	if [[ $comp == */bash-completion/completions ]]; then
		for p in "${progs[@]}"; do
			XDG_DATA_DIRS=${comp%/bash-completion/completions} bash -c \
				'source "$1"; __load_completion "$2" && complete -p "$2"' \
				_ "$bc_main" "$p" 2>&1 | grep -q -- "-F _hvis_" ||
				fail "bash-completion does not load $p's completion"
		done
	fi
	# What a Tab offers (comp.sh: PROGRAM WORDS...: the offers, one a line).
	cat >"$T/comp.sh" <<-'EOF'
		source "$COMP_FILE"
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		f=$(complete -p "$1" | sed -E 's/.*-F ([^ ]+) .*/\1/')
		"$f" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf '%s\n' "${COMPREPLY[@]}"
	EOF
	offers() { COMP_FILE=$comp/hvis-ctl bash "$T/comp.sh" "$@"; }
	# Every option of every program's --help is offered.
	for p in "$sbin/hvis-host" "$sbin/hvis-guest" "$bin/hvis-ctl"; do
		offers "${p##*/}" -- >"$T/offers"
		"$p" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u | while read -r o; do
			grep -qx -- "$o" "$T/offers" || echo "$o"
		done >"$T/missing"
		# hvis-ctl's --help also names its commands' options: those are
		# offered after their command.
		[ "${p##*/}" = hvis-ctl ] && sed -i -E '/^--(json|wide|force|reboot|reason|turn-off|skew|subchannels|pool|dhcp|ip|gateway|dns|controller|lun|read-only|size|count|seconds|stop)$/d' "$T/missing"
		[ ! -s "$T/missing" ] || fail "${p##*/}: completion lacks $(cat "$T/missing")"
	done
	offers hvis-bench ring -- >"$T/offers"
	"$bin/hvis-bench" ring --help | grep -oE -- '--[a-z][a-z-]*' | sort -u |
		while read -r o; do grep -qx -- "$o" "$T/offers" || echo "$o"; done >"$T/missing"
	[ ! -s "$T/missing" ] || fail "hvis-bench ring: completion lacks $(cat "$T/missing")"
	[ "$(offers hvis-ctl vm "" | tr '\n' ' ')" = \
		"list show watch services service stop timesync backup " ] ||
		fail "hvis-ctl vm: offers $(offers hvis-ctl vm "")"
	[ "$(offers hvis-ctl kvp list --pool aut | tr '\n' ' ')" = \
		"auto auto-external auto-internal " ] || fail "kvp --pool: $(offers hvis-ctl kvp list --pool aut)"
	[ "$(offers hvis-host --services heartbeat,ti)" = heartbeat,timesync ] ||
		fail "--services list: $(offers hvis-host --services heartbeat,ti)"
fi

# --- systemd units: verified with their programs and man pages as
# installed (ExecStart pointed into DESTDIR, MANPATH at its man pages)
if [ -n "${dir[unitdir]}" ]; then
	mkdir "$T/units"
	for u in hvis-host@.service hvis-guest@.service; do
		f=$D${dir[unitdir]}/$u
		[ -f "$f" ] || fail "no unit ${f#"$D"}"
		! grep -n '@[A-Z]*@' "$f" || fail "$u: not substituted"
		grep -q "^ExecStart=${dir[sbindir]}/${u%@.service} " "$f" ||
			fail "$u: ExecStart is not ${dir[sbindir]}/${u%@.service}"
		grep -q "^EnvironmentFile=-${dir[sysconfdir]}/default/${u%@.service}-%i$" "$f" ||
			fail "$u: no EnvironmentFile in ${dir[sysconfdir]}/default"
		sed "s,^ExecStart=${dir[sbindir]}/,ExecStart=$sbin/," "$f" >"$T/units/$u"
	done
	grep -q '^ExecStart=.* --system ' "$T/units/hvis-guest@.service" ||
		fail "the guest unit does not run --system"
	# verify UNIT: systemd-analyze verify accepts the unit, warning about
	# nothing of ours (it fails on a missing program, but only warns
	# about an unknown key or a bad value).
	verify() {
		MANPATH=$D${dir[mandir]} systemd-analyze verify "$T/units/$1" \
			>"$T/verify.out" 2>&1 && ! grep -q hvis "$T/verify.out"
	}
	for u in hvis-host@vm1.service hvis-guest@vm1.service; do
		verify "$u" || fail "systemd-analyze verify $u: $(cat "$T/verify.out")"
	done
	# ... and refuses a broken one: a misspelt key, a bad value, a program
	# that is not there.
	cp "$T/units/hvis-host@.service" "$T/good"
	for broken in 's/^KillMode=/KilMode=/' 's/^KillMode=.*/KillMode=bogus/' \
		"s,^ExecStart=$sbin/hvis-host,ExecStart=$sbin/hvis-hots,"; do
		sed "$broken" "$T/good" >"$T/units/hvis-host@.service"
		! verify hvis-host@vm1.service || fail "verify accepted: $broken"
	done
	cp "$T/good" "$T/units/hvis-host@.service"

	# The host's ExecStart as systemd runs it: XDG_RUNTIME_DIR=%t (here
	# $T/run) and the RuntimeDirectory made first (parent 0755, the VM's
	# 0700), extra options from the environment file's variable.
	unit=$T/units/hvis-host@.service
	grep -q '^Environment=XDG_RUNTIME_DIR=%t$' "$unit" &&
		grep -q '^RuntimeDirectory=hvis/%i$' "$unit" &&
		grep -q '^RuntimeDirectoryMode=0700$' "$unit" ||
		fail "host unit: runtime directory settings"
	mkdir -m 0755 "$T/run" "$T/run/hvis" && mkdir -m 0700 "$T/run/hvis/vm1"
	read -ra words < <(sed -n 's/^ExecStart=//p' "$unit" | sed 's/%i/vm1/g')
	opts="--services heartbeat --heartbeat-ms 200"
	cmd=()
	for w in "${words[@]}"; do
		# shellcheck disable=SC2206,SC2016 # split at blanks as systemd
		# does; the unit's own word, not expanded
		if [ "$w" = '$HVIS_HOST_OPTS' ]; then cmd+=($opts); else cmd+=("$w"); fi
	done
	XDG_RUNTIME_DIR=$T/run "${cmd[@]}" 2>"$T/host.log" &
	host=$!; pids+=("$host")
	XDG_RUNTIME_DIR=$T/run XDG_STATE_HOME=$T/state "$sbin/hvis-guest" \
		--reconnect --name vm1 --no-services 2>"$T/guest.log" &
	guest=$!; pids+=("$guest")
	for _ in $(seq 100); do
		"$bin/hvis-ctl" --dir "$T/run/hvis/vm1" vm show 2>/dev/null |
			grep -q '^State: *Running' && break
		sleep 0.1
	done
	XDG_RUNTIME_DIR=$T/run "$bin/hvis-ctl" --name vm1 vm show >"$T/show" ||
		fail "hvis-ctl --name vm1: $(cat "$T/show" "$T/host.log" "$T/guest.log")"
	grep -q '^Name: *vm1$' "$T/show" && grep -q '^State: *Running' "$T/show" ||
		fail "unit's host: $(cat "$T/show" "$T/host.log" "$T/guest.log")"
	kill -TERM "$guest" "$host"
	wait "$guest" || fail "guest exit $? on SIGTERM"
	wait "$host" || fail "host exit $? on SIGTERM: $(cat "$T/host.log")"
	# systemd made the VM's directory, so systemd removes it, not the host.
	[ -d "$T/run/hvis/vm1" ] && [ ! -e "$T/run/hvis/vm1/ctl.sock" ] ||
		fail "runtime directory after stop: $(ls -la "$T/run/hvis")"
fi
echo "ok"
