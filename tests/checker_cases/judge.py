#!/usr/bin/env python3
"""Runs the textbook runner of ../shared/textbook (the checker's development set) on a folder of
cases and holds gradlab check to issue 17's bar: every claim judged right (the runner's exit
status) and at least 90% of the slips named. Exits 77 (ctest: skipped) where the runner is absent.

Usage: judge.py GRADLAB_BINARY RUNNER [CASES_DIR]"""
import os, re, subprocess, sys

binary, runner = sys.argv[1], sys.argv[2]
cases = sys.argv[3:4]
if not os.path.isfile(runner):
    print(f"no textbook runner at {runner}: skipped")
    sys.exit(77)
args = [sys.executable, runner, binary, "--names"] + (["--cases", cases[0]] if cases else [])
run = subprocess.run(args, capture_output=True, text=True)
print(run.stdout + run.stderr)
named = re.search(r"^(\d+)/(\d+) slips named", run.stdout, re.M)
if run.returncode != 0 or not named:
    sys.exit(f"judged wrongly (runner exit {run.returncode})")
share = int(named.group(1)) / max(int(named.group(2)), 1)
if share < 0.9:
    sys.exit(f"only {share:.0%} of the slips named, fewer than 90%")
print(f"{share:.0%} of the slips named")
