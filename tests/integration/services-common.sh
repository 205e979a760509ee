# Helpers of the integration services tests (services*.sh): read the
# `hvis-ctl vm services` table, which is fixed-width because Hyper-V's
# service names contain blanks.
# Usage from a test: source services-common.sh HOST GUEST CTL
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KVP_ROOT=$T/kvp
mkdir -p "$KVP_ROOT"

# svc_col NAME FIRST LAST: columns FIRST-LAST of NAME's row, trimmed.
svc_col() {
	ctl vm services | awk -v n="$1" 'substr($0, 1, 24) ~ "^" n " *$"' |
		cut -c"$2-$3" | sed 's/ *$//'
}
svc_enabled() { svc_col "$1" 26 32; }
svc_status() { svc_col "$1" 34 57; }
svc_versions() { svc_col "$1" 59 75 | tr -s ' ' '/'; }
svc_is() { [ "$(svc_status "$1")" = "$2" ]; }

ALL_SERVICES=("Heartbeat" "Shutdown" "Time Synchronization"
	"Key-Value Pair Exchange" "VSS")

all_ok() {
	for s in "${ALL_SERVICES[@]}"; do
		svc_is "$s" OK || return 1
	done
	# OK with versions means negotiated, not merely "disabled OK".
	[ "$(svc_versions VSS)" != "-/-" ]
}

# relid_of CLASS: the relid of the open channel of a service class.
relid_of() { ctl channels --wide | awk -v c="$1" '$2 == c && $5 == "open" {print $1}'; }

# start_guest_ic [ARGS]: a guest with its KVP pools in the test dir.
start_guest_ic() {
	start_guest --memory 32 --ring-size 64 --traffic none \
		--kvp-root "$KVP_ROOT" "$@"
}

# make_netns NAME: network namespace NAME for a test, or skip (77) where
# that cannot be (not root, no ip, no namespaces).
make_netns() {
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
	command -v ip >/dev/null || { echo "SKIP: no ip"; exit 77; }
	ip netns add "$1" 2>/dev/null || { echo "SKIP: no network namespaces"; exit 77; }
}
