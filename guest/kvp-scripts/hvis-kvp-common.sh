# Shared by hvis's KVP helpers (sourced, not run): the network namespace
# they run in and finding DHCP clients. POSIX sh; reads /proc only.

# netns_name: the name (`ip netns`) of the network namespace this runs
# in (hvis-guest runs the helpers of a --netns adapter in its
# namespace); nothing for the machine's own (init's). Fails for another
# namespace that has no name, whose resolv.conf nobody knows.
netns_name() {
	[ "$(readlink /proc/self/ns/net)" = "$(readlink /proc/1/ns/net 2>/dev/null)" ] &&
		return 0
	_n=$(ip netns identify 2>/dev/null | head -n 1)
	[ -n "$_n" ] && echo "$_n"
}

# dhcp_client_pids IFNAME: the pids of dhclient, dhcpcd and udhcpc
# processes of this network namespace that name IFNAME as one of their
# arguments (an hn0 of another namespace is another interface).
dhcp_client_pids() {
	_ns=$(readlink /proc/self/ns/net)
	for d in /proc/[0-9]*; do
		comm=$(cat "$d/comm" 2>/dev/null) || continue
		case $comm in
		dhclient | dhcpcd | udhcpc) ;;
		*) continue ;;
		esac
		[ "$(readlink "$d/ns/net" 2>/dev/null)" = "$_ns" ] || continue
		if tr '\0' '\n' <"$d/cmdline" 2>/dev/null | tail -n +2 |
			grep -qxF -- "$1"; then
			echo "${d#/proc/}"
		fi
	done
}
