#!/usr/bin/env python3
"""Checks that the output a tutorial's text quotes is what its program prints.

    tutorial_transcripts.py TUTORIAL.md PROGRAM [ARG...]

runs PROGRAM ARG... and compares its standard output with every quoted output block of
TUTORIAL.md. The convention for fenced blocks in tutorials/NN_name.md (docs/README.md says
the same):

  ```text   program output: checked here
  ```cpp    C++ code, ```sh a shell command, any other tag: not output, not checked
  ```       an untagged block is an error: tag it, so that every block says what it is

A quoted block must appear in the output as one contiguous run of lines. A line that is
only "…" stands for lines left out: the lines before it and after it must each be
contiguous, and in that order. A "…" inside a line stands for any text on that line: a
value that differs from machine to machine (the last digits of a finite difference, a
float32 rounding), which the tutorial's text then explains. Before comparing, trailing spaces are dropped and times are
masked on both sides ("0.06 s", "12.3 ms", "250 ns", "4 min" all read as "<time>"), so a
transcript made on another machine still matches. A block that does not match prints the
tutorial's file and line, the quoted line and the printed line nearest to it; the exit
status is then 1.

Standard library only (the suite's python3 has nothing else).
"""

import difflib
import re
import subprocess
import sys

ELISION = "…"
MAX_SHOWN = 10  # differing lines shown per block
# A number followed by a unit of time, as the tutorials print durations.
TIME = re.compile(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?\s?(?:ns|µs|us|ms|s|min)(?![\w])")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


def mask(line):
    return TIME.sub("<time>", line.rstrip())


def quoted_blocks(md_path):
    """Yields (line number of the first quoted line, tag, lines) for each fenced block."""
    with open(md_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, tag = m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        if j == len(lines):
            raise SystemExit(f"{md_path}:{i + 1}: a fenced block that is never closed")
        body = [l[len(indent):] if l.startswith(indent) else l for l in lines[i + 1:j]]
        yield i + 2, tag, body
        i = j + 1


def same_line(quoted, printed):
    """Whether a printed line is the quoted one, where a "…" inside it stands for any text."""
    if ELISION not in quoted:
        return quoted == printed
    pattern = ".*?".join(re.escape(piece) for piece in quoted.split(ELISION))
    return re.fullmatch(pattern, printed) is not None


def find_run(run, printed, start):
    """The first index >= start where `run` appears contiguously in `printed`, or None."""
    n = len(run)
    for k in range(start, len(printed) - n + 1):
        if all(same_line(q, p) for q, p in zip(run, printed[k:k + n])):
            return k
    return None


def matches(block, printed):
    """Whether the block's runs (split at "…" lines) appear in order in `printed`."""
    runs, run = [], []
    for line in block:
        if line.strip() == ELISION:
            runs.append(run)
            run = []
        else:
            run.append(line)
    runs.append(run)
    position = 0
    for run in runs:
        if not run:
            continue
        k = find_run(run, printed, position)
        if k is None:
            return False
        position = k + len(run)
    return True


def nearest(line, printed):
    """The printed line most like `line`, with its number (1-based) in the output."""
    best, best_ratio = None, -1.0
    for k, p in enumerate(printed):
        ratio = difflib.SequenceMatcher(None, line, p).ratio()
        if ratio > best_ratio:
            best, best_ratio = k, ratio
    return (best + 1, printed[best]) if best is not None else (0, "(the program printed nothing)")


def explain(md_path, first_line, block, printed):
    """Says which quoted lines differ from what was printed, and what is printed nearest."""
    plain = [(i, l) for i, l in enumerate(block) if l.strip() != ELISION]
    # A line with "…" inside reads as the printed line it matches, so that difflib below
    # sees it as equal.
    quoted = [next((p for p in printed if same_line(l, p)), l) for _, l in plain]
    # Where the block comes closest: the stretch of output with the most of its lines in
    # order (difflib's longest matching blocks), so a line added or missing does not push
    # every later line out of step.
    best_start, best_score = 0, -1
    span = 2 * len(block) + 10
    for start in range(max(1, len(printed) - len(quoted) + 1)):
        window = printed[start:start + span]
        score = sum(m.size for m in
                    difflib.SequenceMatcher(None, quoted, window, autojunk=False).get_matching_blocks())
        if score > best_score:
            best_start, best_score = start, score
    window = printed[best_start:best_start + span]
    print(f"{md_path}:{first_line}: this quoted block is not in the output as "
          f"{len(quoted)} consecutive lines"
          + (" (with the lines left out at …)" if len(quoted) < len(block) else ""))
    opcodes = difflib.SequenceMatcher(None, quoted, window, autojunk=False).get_opcodes()
    shown = 0
    for tag, q1, q2, w1, w2 in opcodes:
        if tag == "equal" or tag == "insert" and not 0 < q1 < len(quoted):
            continue
        if tag == "insert" and 0 < q1 < len(quoted):  # printed lines the quote leaves out
            print(f"  after {md_path}:{first_line + plain[q1 - 1][0]}, "
                  f"the program also prints:")
            for w in range(w1, w2):
                print(f"    printed: {window[w]}   (output line {best_start + w + 1})")
            shown += 1
            continue
        for q in range(q1, q2):
            line = quoted[q]
            if shown == MAX_SHOWN:
                print("  … and more: fix these first")
                return
            if best_score > 0 and w1 + (q - q1) < w2:
                w = w1 + (q - q1)
                number, near = best_start + w + 1, window[w]
            else:
                number, near = nearest(line, printed)
            print(f"  {md_path}:{first_line + plain[q][0]}")
            print(f"    quoted:          {line}")
            if near == line:
                print(f"    it is printed (output line {number}), but not in this order")
            else:
                print(f"    nearest printed: {near}   (output line {number})")
            shown += 1
    if shown == 0:
        print("  every line is printed, but not in one run: mark lines left out with …")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    md_path, command = sys.argv[1], sys.argv[2:]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    printed = [mask(l) for l in result.stdout.split("\n")]
    if not any(line.strip() for line in printed):
        print(f"{' '.join(command)} printed nothing (exit status {result.returncode})")
        return 1
    failures = checked = 0
    for first_line, tag, block in quoted_blocks(md_path):
        if tag == "":
            print(f"{md_path}:{first_line - 1}: an untagged fenced block: mark it ```text if it "
                  "is the program's output, or with its language (```cpp, ```sh) if not")
            failures += 1
        elif tag == "text":
            checked += 1
            block = [mask(l) for l in block]
            if not matches(block, printed):
                explain(md_path, first_line, block, printed)
                failures += 1
    if result.returncode != 0:
        print(f"{' '.join(command)} exited with status {result.returncode}")
        failures += 1
    print(f"{md_path}: {checked} quoted output blocks, {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
