#!/usr/bin/env python3
"""Count one meson test run for `make check`: tally.py TESTLOG SUITE...

Prints "OK BAD" on stdout (what passed, what failed), reasons on stderr.
A missing or empty log is one failure, and so is each SUITE named that
ran no test: a check that ran nothing must not pass. Skipped tests are
named, not counted."""
import json
import sys


def main(log, suites):
    ok = bad = 0
    ran, skipped = {}, []
    try:
        lines = open(log).read().splitlines()
    except OSError as e:
        lines = []
        print("check: no test log %s (%s)" % (log, e.strerror), file=sys.stderr)
    if not lines:
        print("check: empty test log %s: counted as a failure" % log,
              file=sys.stderr)
        bad += 1
    for line in lines:
        t = json.loads(line)
        if t.get("result") == "SKIP":
            skipped.append(t["name"].split(" / ")[-1])
            continue
        # "project:suite / test": meson writes no suite field.
        suite = t["name"].split(" / ")[0].split(":")[-1]
        ran[suite] = ran.get(suite, 0) + 1
        if t.get("result") in ("OK", "EXPECTEDFAIL"):
            ok += 1
        else:
            bad += 1
    for s in suites:
        if not ran.get(s):
            print("check: suite %s ran no test: counted as a failure" % s,
                  file=sys.stderr)
            bad += 1
    if skipped:
        print("check: skipped: " + " ".join(skipped), file=sys.stderr)
    print(ok, bad)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
