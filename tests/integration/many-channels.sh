#!/usr/bin/env bash
# Hundreds of channels at once: test devices times sub-channels as the
# storage and network devices will have them (up to 4 x 64). The host
# posts its offers while the guest posts a GPADL for each offer it reads,
# so each side sends a burst at a peer that is busy sending too: neither
# may wait for the other. Every channel opens, hvis-ctl is answered
# throughout, and SIGTERM ends each program within a second.
source "$(dirname "$0")/lib.sh"

# pid_gone PID: PID has ended (a zombie until the shell waits for it).
pid_gone() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ]
}

# stop_within_1s PID NAME: SIGTERM; it must be gone within a second.
stop_within_1s() {
	local t0 ms
	t0=$(date +%s%N)
	kill -TERM "$1" 2>/dev/null || fail "$2 already gone"
	wait_until 1 pid_gone "$1" || fail "$2 still running 1 s after SIGTERM"
	ms=$((($(date +%s%N) - t0) / 1000000))
	wait "$1" || fail "$2 exited $? after SIGTERM"
	echo "$2 stopped $ms ms after SIGTERM"
}

# shape DEVICES SUBCHANNELS RING_KIB
shape() {
	local n=$(($1 * ($2 + 1))) t0
	: >"$HOST_LOG"; : >"$GUEST_LOG"
	start_host --test-devices "$1" --subchannels "$2"
	t0=$(date +%s%N)
	start_guest --traffic none --ring-size "$3" --memory 256
	wait_until 60 has_open "$n" || fail "$1 x $2: $(open_channels) of $n open"
	echo "$1 x $2: $n channels open after $((($(date +%s%N) - t0) / 1000000)) ms"
	ctl vm show | grep -q '^Errors: *0$' || fail "$1 x $2: errors: $(ctl vm show)"
	stop_within_1s "$GUEST_PID" "guest ($1 x $2)"
	stop_within_1s "$HOST_PID" "host ($1 x $2)"
	grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" \
		&& fail "sanitizer report"
	return 0
}

shape 4 64 256
shape 64 8 64
shape 16 16 128
echo "ok"
