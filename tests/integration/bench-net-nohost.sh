#!/usr/bin/env bash
# hvis-bench net's frames part when the host stops coming up after a run
# that worked: the rows after it say why, and the loop thread of a guest
# that never started is not joined (join_check.so, preloaded, aborts a
# pthread_join of a thread that is not running; glibc would only return
# an error). hvis-bench takes hvis-host and hvis-ctl from its own
# directory: copies in $T/bin, hvis-host there a script that runs the
# real one for the first run only, then only makes the control socket's
# path and never listens.
# Usage: bench-net-nohost.sh HOST GUEST CTL BENCH JOIN_CHECK
source "$(dirname "$0")/lib.sh"
BENCH=$4
SHIM=$5
B=$T/bin
mkdir "$B" && cp "$BENCH" "$B/hvis-bench" && cp "$CTL_BIN" "$B/hvis-ctl" ||
	fail "copies"
cat >"$B/hvis-host" <<EOS
#!/bin/sh
if [ ! -e "$B/served" ]; then
	: >"$B/served"
	exec "$HOST_BIN" "\$@"
fi
while [ \$# -gt 0 ]; do [ "\$1" = --dir ] && dir=\$2; shift; done
: >"\$dir/ctl.sock"
EOS
chmod +x "$B/hvis-host"
# libasan would insist on coming first; the shim only passes calls on
LD_PRELOAD=$SHIM ASAN_OPTIONS=verify_asan_link_order=0:${ASAN_OPTIONS:-} \
	TMPDIR=$T timeout 120 "$B/hvis-bench" net --only frames --seconds 0.1 \
	>"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] || fail "hvis-bench exited $rc: $(cat "$T/out" "$T/err")"
grep -q "join_check" "$T/err" && fail "$(cat "$T/err")"
grep -Eq '^guest to host +64 +1 +[0-9]+' "$T/out" ||
	fail "the first run measured nothing: $(cat "$T/out" "$T/err")"
[ "$(grep -c 'host or netvsc did not come up' "$T/out")" -eq 9 ] ||
	fail "rows: $(cat "$T/out")"
echo "ok"
