# Shared by hvis's KVP helpers (sourced, not run): finding DHCP clients.
# POSIX sh; reads /proc only.

# dhcp_client_pids IFNAME: the pids of dhclient, dhcpcd and udhcpc
# processes that name IFNAME as one of their arguments.
dhcp_client_pids() {
	for d in /proc/[0-9]*; do
		comm=$(cat "$d/comm" 2>/dev/null) || continue
		case $comm in
		dhclient | dhcpcd | udhcpc) ;;
		*) continue ;;
		esac
		if tr '\0' '\n' <"$d/cmdline" 2>/dev/null | tail -n +2 |
			grep -qxF -- "$1"; then
			echo "${d#/proc/}"
		fi
	done
}
