#!/usr/bin/env python3
"""Check the counters of one iperf3 run (its --json output) and print
one line. TCP: what was received is what was sent but for what was still
in flight when the receiver stopped counting (iperf3 3.12 stops at the
sender's TEST_END, which the control connection may deliver ahead of the
data), at most SLACK bytes, and what the sender sent in the time it
counted past the receiver, at its mean rate; never more. UDP: at most 5%
lost. Usage: iperf_check.py JSON WHAT SLACK"""
import json
import sys


def tcp(end, slack):
    sent, got = end["sum_sent"]["bytes"], end["sum_received"]["bytes"]
    ss, rs = end["sum_sent"]["seconds"], end["sum_received"]["seconds"]
    late = sent * max(0.0, ss - rs) / ss if ss > 0 else 0
    ok = sent > 0 and sent - slack - late <= got <= sent
    return ok, "%d bytes sent, %d received" % (sent, got)


def udp(end):
    s = end["sum"]
    ok = s["packets"] > 0 and s["lost_percent"] <= 5.0
    return ok, "%d packets, %d lost" % (s["packets"], s["lost_packets"])


def main():
    end = json.load(open(sys.argv[1]))["end"]
    if "sum_sent" in end and "lost_packets" not in end.get("sum", {}):
        ok, line = tcp(end, int(sys.argv[3]))
    else:
        ok, line = udp(end)
    bps = end.get("sum_received", end.get("sum"))["bits_per_second"]
    print("%s: %s, %.0f Mbit/s" % (sys.argv[2], line, bps / 1e6))
    sys.exit(0 if ok else 1)


main()
