#!/usr/bin/env bash
# Nobody else's directory: another local user (nobody) plants the
# victim's (root's) default runtime directory and runs a host there. The
# victim's guest, hvis-ctl and hvis-host refuse the directory; pointed at
# that host's sockets directly they refuse the host (SO_PEERCRED) unless
# told to trust its user. Directories a program makes are 0700, sockets
# 0600, and a host removes only the directory it made. Needs root (to
# act as two users): skipped otherwise.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "SKIP: no user nobody"; exit 77; }

# A sticky, world-writable scratch /tmp of our own, as /tmp is.
S=$T/tmp
chmod 0711 "$T"
mkdir -m 1777 "$S"
NOBODY=(setpriv --reuid nobody --regid nogroup --clear-groups)
VICTIM=(env -u XDG_RUNTIME_DIR TMPDIR="$S")
mode() { stat -c %a "$1"; }

# refused WHAT CMD...: CMD fails within 5 s and its stderr holds WHAT.
refused() {
	local what=$1; shift
	timeout -s KILL 5 "$@" >"$T/out" 2>"$T/err" && fail "$* was not refused"
	grep -q -- "$what" "$T/err" || fail "$*: no '$what' in: $(cat "$T/err")"
}

# --- the victim's own host: directories 0700, sockets 0600, removed after
"${VICTIM[@]}" "$HOST_BIN" --name own --services none \
	2>>"$HOST_LOG" &
own=$!
_pids+=("$own")
wait_until 10 test -S "$S/hvis-0/own/ctl.sock" || fail "own host did not start"
[ "$(mode "$S/hvis-0")" = 700 ] || fail "base mode $(mode "$S/hvis-0")"
[ "$(mode "$S/hvis-0/own")" = 700 ] || fail "vm dir mode"
[ "$(mode "$S/hvis-0/own/vmbus.sock")" = 600 ] || fail "vmbus.sock mode"
[ "$(mode "$S/hvis-0/own/ctl.sock")" = 600 ] || fail "ctl.sock mode"
"${VICTIM[@]}" "$CTL_BIN" --name own vm show >/dev/null || fail "own vm show"
stop_proc "$own" "own host"
[ ! -e "$S/hvis-0/own" ] || fail "host left the directory it made"
# A directory the host did not make stays.
mkdir -m 700 "$T/given"
"$HOST_BIN" --dir "$T/given" --services none 2>>"$HOST_LOG" &
given=$!
_pids+=("$given")
wait_until 10 test -S "$T/given/ctl.sock" || fail "given-dir host did not start"
stop_proc "$given" "given-dir host"
[ -d "$T/given" ] && [ -z "$(ls -A "$T/given")" ] || fail "given dir removed or not emptied"
rmdir "$S/hvis-0"

# --- nobody plants root's default directory and runs a host in it
"${NOBODY[@]}" mkdir -m 0777 "$S/hvis-0"
"${NOBODY[@]}" mkdir -m 0700 "$S/hvis-0/demo"
"${NOBODY[@]}" "$HOST_BIN" \
	--dir "$S/hvis-0/demo" --services none --test-devices 1 2>>"$HOST_LOG" &
evil=$!
_pids+=("$evil")
wait_until 10 test -S "$S/hvis-0/demo/ctl.sock" || fail "nobody's host did not start"

refused "belongs to nobody" "${VICTIM[@]}" "$GUEST_BIN" --memory 16
refused "belongs to nobody" "${VICTIM[@]}" "$CTL_BIN" vm show
refused "belongs to nobody" "${VICTIM[@]}" "$HOST_BIN" --services none
refused "belongs to nobody" "$GUEST_BIN" --dir "$S/hvis-0/demo" --memory 16
# Pointed at the sockets themselves: the host's user is refused.
refused "runs as uid 65534" "$GUEST_BIN" --vmbus "$S/hvis-0/demo/vmbus.sock" \
	--memory 16 --no-services
refused "another user" "$CTL_BIN" --ctl "$S/hvis-0/demo/ctl.sock" vm show
out=$("$CTL_BIN" --ctl "$S/hvis-0/demo/ctl.sock" --host-user nobody vm show) ||
	fail "--host-user nobody refused"
grep -q '^State: *Off' <<<"$out" || fail "nobody's VM: $out"
# The refused guest connected, then left before handing over memory.
grep -q '^Guest memory: *-$' <<<"$out" || fail "guest memory handed over: $out"
# Trusting nobody explicitly attaches.
"$GUEST_BIN" --vmbus "$S/hvis-0/demo/vmbus.sock" --host-user nobody \
	--memory 16 --no-services --traffic none 2>>"$GUEST_LOG" &
trusted=$!
_pids+=("$trusted")
wait_until 10 bash -c "'$CTL_BIN' --ctl '$S/hvis-0/demo/ctl.sock' --host-user nobody vm show | grep -q '^State: *Running'" ||
	fail "trusting guest did not attach"
stop_proc "$trusted" "trusting guest"
stop_proc "$evil" "nobody's host"
rm -rf "$S/hvis-0"

# --- root's own directory, but open to others, or a symlink
mkdir -m 0777 "$S/hvis-0"
refused "writable by group or others" "${VICTIM[@]}" "$HOST_BIN" --services none
chmod 0700 "$S/hvis-0"
mkdir -m 0770 "$S/hvis-0/demo"
refused "writable by group or others" "${VICTIM[@]}" "$CTL_BIN" vm show
rmdir "$S/hvis-0/demo"
mkdir -m 0700 "$T/elsewhere"
ln -s "$T/elsewhere" "$S/hvis-0/demo"
refused "symlink" "${VICTIM[@]}" "$HOST_BIN" --services none
refused "symlink" "${VICTIM[@]}" "$GUEST_BIN" --memory 16
echo "ok"
