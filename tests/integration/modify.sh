#!/usr/bin/env bash
# MODIFYCHANNEL end to end: hvis-guest --retarget-after moves every open
# channel to the next VP. From 4.1 on the host moves its worker
# (hvis-ctl channels --wide shows the new CPU) and traffic goes on; at 5.3 the
# guest waits for the host's answer and matches it; at 4.0 the guest
# does not send it and says why.
source "$(dirname "$0")/lib.sh"

ncpu=$(nproc)
want=$((1 % ncpu))

# test_cpu: the host's CPU column of the test device's primary channel.
test_cpu() { ctl channels --wide | awk 'NR > 1 && $2 == "test" && $4 == 0 {print $7}'; }
test_pkts() { ctl channels --wide | awk 'NR > 1 && $2 == "test" && $4 == 0 {print $11}'; }
cpu_is() { [ "$(test_cpu)" = "$1" ]; }
more_pkts() { [ "$(test_pkts)" -gt "$1" ]; }

for v in 5.3 5.0 4.1 4.0; do
	: >"$HOST_LOG"; : >"$GUEST_LOG"
	start_host --max-version "$v" --subchannels 0 --once
	start_guest --memory 16 --ring-size 16 --subchannels 0 --retarget-after 500
	wait_until 10 has_open 1 || fail "$v: channel did not open"
	relid=$(ctl channels --wide | awk 'NR > 1 && $2 == "test" && $4 == 0 {print $1}')
	# from the host's log: on a loaded machine the 500 ms may be over
	# before the table is read, and the channel on its next CPU already
	log_has "$HOST_LOG" "relid $relid opened: target VP 0 -> CPU 0," ||
		fail "$v: not opened on CPU 0: $(grep "relid $relid opened" "$HOST_LOG")"
	case $v in
	4.0)
		wait_until 5 log_has "$GUEST_LOG" "relid $relid: MODIFYCHANNEL not sent: VMBus 4.0 .* lacks it" \
			|| fail "$v: guest did not say why it kept the VP"
		sleep 0.2
		cpu_is 0 || fail "$v: host moved the channel to CPU $(test_cpu)"
		log_has "$HOST_LOG" "moved to VP" && fail "$v: host saw a MODIFYCHANNEL"
		;;
	5.3)
		wait_until 5 cpu_is "$want" || fail "$v: host CPU $(test_cpu), want $want"
		wait_until 5 log_has "$GUEST_LOG" "relid $relid: host accepted MODIFYCHANNEL to VP $want" \
			|| fail "$v: guest did not match the response"
		log_has "$GUEST_LOG" "relid $relid: worker moved to CPU $want" || fail "$v: guest worker not moved"
		;;
	*)
		wait_until 5 cpu_is "$want" || fail "$v: host CPU $(test_cpu), want $want"
		log_has "$GUEST_LOG" "relid $relid: MODIFYCHANNEL to VP $want sent (no response below 5.3)" \
			|| fail "$v: guest did not log the request"
		log_has "$GUEST_LOG" "relid $relid: worker moved to CPU $want" || fail "$v: guest worker not moved"
		;;
	esac
	log_has "$HOST_LOG" "relid $relid moved to VP $want" || [ "$v" = 4.0 ] \
		|| fail "$v: host did not log the move"
	# Traffic goes on after the move, and nobody counted an error.
	n=$(test_pkts)
	wait_until 5 more_pkts "$n" || fail "$v: traffic stopped after the move"
	ctl vm show | grep -q '^Errors: *0$' || fail "$v: host errors: $(ctl vm show)"
	stop_proc "$GUEST_PID" guest
	log_has "$GUEST_LOG" "rejected from host" && fail "$v: guest rejected host messages"
	log_has "$GUEST_LOG" "shutdown: traffic echo.*errors 0" || fail "$v: guest summary"
	wait "$HOST_PID" || fail "$v: host --once failed"
done
echo "ok"
