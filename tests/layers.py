#!/usr/bin/env python3
"""Fails on an include that goes the wrong way between the library's layers.

    layers.py SRC_DIR        check SRC_DIR/gradlab/{core,kernels,ops,tools}/
    layers.py --self-test    check that a wrong-way include in a scratch tree is caught

The layers, lowest first (src/gradlab/CMakeLists.txt says what each holds): core, kernels,
ops, tools. A file may include headers of its own layer and of the layers below it, always
by their full name ("gradlab/core/tensor.hpp"), never by a path relative to itself. The one
documented exception: the backward pass in core adds up the gradients a tensor receives
with ops' add() (ops/elementwise.hpp), so that the sum is recorded when the pass is.

Standard library only.
"""

import os
import re
import shutil
import sys
import tempfile

LAYERS = ["core", "kernels", "ops", "tools"]
EXCEPTIONS = {
    ("core/graph.cpp", "ops/elementwise.hpp"),
    ("core/reference_backward.cpp", "ops/elementwise.hpp"),
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def wrong_way(src):
    """Every (file, line, message) of an include that breaks the layering."""
    root = os.path.join(src, "gradlab")
    found = []
    for layer in LAYERS:
        folder = os.path.join(root, layer)
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".cpp", ".hpp")):
                continue
            here = f"{layer}/{name}"
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                target = m.group(1)
                parts = target.split("/")
                if len(parts) != 3 or parts[0] != "gradlab" or parts[1] not in LAYERS:
                    found.append((here, line, f'includes "{target}": name a header of the '
                                  'library by its full name, "gradlab/<layer>/<file>"'))
                    continue
                there = f"{parts[1]}/{parts[2]}"
                if LAYERS.index(parts[1]) > LAYERS.index(layer) and (here, there) not in EXCEPTIONS:
                    found.append((here, line, f'includes "{target}": {layer} is below '
                                  f'{parts[1]} and may not use it'))
    return found


def self_test():
    """A planted wrong-way include, a relative one and an allowed one, in a scratch tree."""
    with tempfile.TemporaryDirectory() as tmp:
        for layer in LAYERS:
            os.makedirs(os.path.join(tmp, "gradlab", layer))
        files = {
            "core/a.cpp": '#include "gradlab/core/b.hpp"\n#include "gradlab/ops/x.hpp"\n',
            "core/b.hpp": "",
            "kernels/k.hpp": '#include "gradlab/core/b.hpp"\n#include "k2.hpp"\n',
            "ops/x.hpp": '#include "gradlab/kernels/k.hpp"\n',
            "tools/t.cpp": '#include "gradlab/ops/x.hpp"\n#include <vector>\n',
            "core/graph.cpp": '#include "gradlab/ops/elementwise.hpp"\n',
        }
        for path, text in files.items():
            with open(os.path.join(tmp, "gradlab", path), "w", encoding="utf-8") as f:
                f.write(text)
        got = sorted((f, line) for f, line, _ in wrong_way(tmp))
        want = [("core/a.cpp", 2), ("kernels/k.hpp", 2)]
        if got != want:
            print(f"self-test: expected findings {want}, got {got}")
            return 1
    print("self-test: a wrong-way include and a relative one are caught, the exception is not")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    found = wrong_way(sys.argv[1])
    for here, line, message in found:
        print(f"src/gradlab/{here}:{line}: {message}")
    print(f"{len(found)} include(s) against the layering")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
