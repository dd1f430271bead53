#!/usr/bin/env python3
"""Runs the textbook runner of ../shared/textbook (the checker's development set) on a folder of
cases and holds gradlab check to issue 17's bar: every claim judged right (the runner's exit
status) and at least 90% of the slips named. Exits 77 (ctest: skipped) where the runner is absent.

Issue 18's bar too: a formula that needs ops (`"expressible": "no"`) and the direct spelling
of a formula written through a workaround (`direct`) must be run and judged, not left waiting,
unless what it misses (its `missing` list) matches a --may-wait pattern: ops still being
written. The runner tolerates a formula that waits, so those cases are run again on their own
(copied into a scratch folder) and any line of the runner saying that one waits is a failure.

A case named by --ill-formed has a direct spelling that no array library accepts (a shape
NumPy and torch refuse to broadcast, say): gradlab must refuse it too, with exit status 2
and a line naming the shapes, and the rest of that case is judged without it.

Usage: judge.py GRADLAB_BINARY RUNNER [CASES_DIR] [--may-wait REGEX]... [--ill-formed NAME]..."""
import glob, json, os, re, shutil, subprocess, sys, tempfile

args = sys.argv[1:]
may_wait = []
while "--may-wait" in args:
    i = args.index("--may-wait")
    may_wait.append(args[i + 1])
    del args[i:i + 2]
ill_formed = []
while "--ill-formed" in args:
    i = args.index("--ill-formed")
    ill_formed.append(args[i + 1])
    del args[i:i + 2]
binary, runner = args[0], args[1]
cases = args[2:3]
if not os.path.isfile(runner):
    print(f"no textbook runner at {runner}: skipped")
    sys.exit(77)


def run_runner(folder=None):
    extra = ["--cases", folder] if folder else []
    return subprocess.run([sys.executable, runner, binary, "--names"] + extra, capture_output=True,
                          text=True)


# The runner reads the cases beside it when no folder is given (its README says so).
folder = cases[0] if cases else os.path.dirname(os.path.abspath(runner))
keep = tempfile.TemporaryDirectory()
for name in ill_formed:
    path = os.path.join(folder, name + ".json")
    case = json.load(open(path, encoding="utf-8"))
    direct = case.pop("direct")
    document = dict(case["doc"], expr=direct["expr"], constants=direct.get("constants", {}))
    document["claims"] = direct["claims"]
    refused = subprocess.run([binary, "check"], input=json.dumps(document), capture_output=True,
                             text=True)
    if refused.returncode != 2 or "cannot be broadcast" not in refused.stderr:
        sys.exit(f"{name}: its ill-formed direct spelling was not refused with the shapes "
                 f"(exit {refused.returncode}): {refused.stdout}{refused.stderr}")
    print(f"{name} [direct spelling, ill-formed]: refused as it should be: {refused.stderr.strip()}")
    if not os.listdir(keep.name):
        for other in glob.glob(os.path.join(folder, "*.json")):
            shutil.copy(other, keep.name)
    json.dump(case, open(os.path.join(keep.name, name + ".json"), "w", encoding="utf-8"))
run = run_runner(keep.name if ill_formed else cases[0] if cases else None)
print(run.stdout + run.stderr)
named = re.search(r"^(\d+)/(\d+) slips named", run.stdout, re.M)
if run.returncode != 0 or not named:
    sys.exit(f"judged wrongly (runner exit {run.returncode})")
share = int(named.group(1)) / max(int(named.group(2)), 1)
if share < 0.9:
    sys.exit(f"only {share:.0%} of the slips named, fewer than 90%")
print(f"{share:.0%} of the slips named")

must_run = []
for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
    case = json.load(open(path, encoding="utf-8"))
    if case.get("expressible") != "no" and not case.get("direct") or case["id"] in ill_formed:
        continue
    if any(re.search(p, m) for p in may_wait for m in case.get("missing", [])):
        continue
    must_run.append(path)
with tempfile.TemporaryDirectory() as scratch:
    for path in must_run:
        shutil.copy(path, scratch)
    again = run_runner(scratch) if must_run else None
names = ", ".join(os.path.basename(p)[:-5] for p in must_run)
if again is not None:
    waits = [l for l in again.stdout.splitlines() if "cannot express yet" in l or "waits for" in l]
    if again.returncode != 0 or waits:
        print(again.stdout + again.stderr)
        sys.exit(f"formulas that must run in their own spelling ({names}) did not: " + "; ".join(waits))
print(f"{len(must_run)} formulas needing new ops or with a direct spelling judged in that spelling"
      + (f" ({names})" if must_run else "")
      + (f"; the rest may wait for /{'|'.join(may_wait)}/" if may_wait else ""))
