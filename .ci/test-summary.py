#!/usr/bin/env python3
"""Summarises a `swift test` log: the final line, every failure, and the tests that started
but never finished (what a hang leaves behind). Usage: test-summary.py LOG"""
import re
import sys

lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
started, finished = [], set()
for line in lines:
    if "Test case passing" in line:
        continue
    if (m := re.match(r"^◇ Test (.+?) started\.$", line)) and m.group(1) != "run":
        started.append(m.group(1))
    elif m := re.match(r"^[✔✘] Test (.+?)(?: with \d+ test cases?)? (?:passed|failed)\b", line):
        finished.add(m.group(1))
after_failure = False
for line in lines:
    if line.startswith("✘") or (after_failure and line.startswith("↳")):
        print(line[:400])
        after_failure = True
    else:
        after_failure = False
unfinished = [name for name in started if name not in finished]
if unfinished:
    print(f"{len(unfinished)} tests started and never finished:")
    for name in unfinished:
        print(f"  {name}")
summary = [line for line in lines if re.match(r"^[✔✘] Test run with", line)]
print(summary[-1] if summary else "no final line: the test run did not finish")
