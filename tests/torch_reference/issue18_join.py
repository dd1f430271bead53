#!/usr/bin/env python3
"""The joining ops of issue 18 (concat, stack, upsample, kron of any rank) and the ops that now
record their own names (max_pool2d, avg_pool2d, convolve2d, flatten) through `gradlab grad`,
against PyTorch float64: values and gradients (second derivatives through grad() too) to 1e-9
relative. Not run by ctest (it needs python3-torch, Debian's: /usr/bin/python3).
Usage: issue18_join.py build/gradlab"""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
import torch
import torch.nn.functional as F
torch.manual_seed(0)
from issue18_common import compare, failed
r = lambda *shape: torch.randn(shape, dtype=torch.float64)
a, b, c = r(2, 3), r(4, 3), r(2, 1)
compare("concat", "concat([a, b])", lambda a, b: torch.cat([a, b]), {"a": a, "b": b})
compare("concat axis", "concat([c, a ^ 2, c], axis=-1)", lambda a, c: torch.cat([c, a ** 2, c], dim=-1), {"a": a, "c": c})
p, q = r(2, 1, 3), r(2, 4, 3)
compare("concat 3-D", "concat([p, q, p], axis=1) * 2", lambda p, q: torch.cat([p, q, p], dim=1) * 2, {"p": p, "q": q})
# (empty tensors as constants: the shared compare() takes the max of each gradient)
compare("concat empty", "concat([e, a], axis=1)", lambda e, a: torch.cat([e, a], dim=1), {"a": a}, {"e": r(2, 0)})
compare("concat blank", "concat([e, a])", lambda e, a: torch.cat([e, a]), {"a": a}, {"e": r(0)})
compare("stack", "stack([a, exp(a), a * a])", lambda a: torch.stack([a, a.exp(), a * a]), {"a": a})
for axis in (1, 2, -1, -3):
    compare(f"stack {axis}", f"stack([a, 3 * a], axis={axis})", lambda a, axis=axis: torch.stack([a, 3 * a], dim=axis), {"a": a})
for k in (1, 2, 3):
    compare(f"upsample {k}", f"upsample(x, {k}) * upsample(x, {k})",
            lambda x, k=k: F.interpolate(x, scale_factor=k, mode="nearest") ** 2, {"x": r(2, 3, 2, 4)})
compare("upsample 3-D", "upsample(x, 2) * w", lambda x, w: F.interpolate(x[None], scale_factor=2, mode="nearest")[0] * w,
        {"x": r(2, 3, 2)}, {"w": r(2, 6, 4)})
compare("upsample 2-D", "upsample(x, 3) ^ 2",
        lambda x: F.interpolate(x[None, None], scale_factor=3, mode="nearest")[0, 0] ** 2, {"x": r(2, 3)})
for sa, sb in [((3,), (4,)), ((2, 3), (3, 2)), ((2,), (2, 3)), ((2, 1, 3), (3, 2)), ((2, 2, 2), (3, 1, 2)),
               ((4,), (2, 1, 3)), ((), (3,)), ((), ())]:
    compare(f"kron {len(sa)}-{len(sb)}", "kron(x, y)", lambda x, y: torch.kron(x, y), {"x": r(*sa), "y": r(*sb)})
img = r(2, 3, 7, 6)
compare("max_pool2d", "max_pool2d(x, 3, stride=2, padding=1)", lambda x: F.max_pool2d(x, 3, stride=2, padding=1), {"x": img})
compare("avg_pool2d", "avg_pool2d(x, 3, stride=2, padding=1)",
        lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=True), {"x": img})
compare("avg_pool2d odd", "avg_pool2d(x, [2, 3], stride=[3, 2])", lambda x: F.avg_pool2d(x, (2, 3), stride=(3, 2)), {"x": img})
w = r(4, 3, 3, 2)
compare("convolve2d", "convolve2d(x, w, padding=1, stride=2)",
        lambda x, w: F.conv2d(x, w.flip(-1, -2), padding=1, stride=2), {"x": img, "w": w})
compare("convolve2d reflect", "convolve2d(x, w, padding=1, padding_mode=reflect)",
        lambda x, w: F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w.flip(-1, -2)), {"x": img, "w": w})
compare("flatten", "flatten(x, start_axis=1, end_axis=2) ^ 2", lambda x: torch.flatten(x, 1, 2) ** 2, {"x": img})
# second derivatives through grad()
gg = lambda f: lambda **t: (torch.autograd.grad(f(**t).pow(2).sum(), t["x"], create_graph=True)[0] * t["x"]).sum()
for name, expr, f in [
        ("concat''", "concat([x, y], axis=1)", lambda x, y: torch.cat([x, y], dim=1)),
        ("stack''", "stack([x, y])", lambda x, y: torch.stack([x, y])),
        ("kron''", "kron(x, y)", lambda x, y: torch.kron(x, y))]:
    compare(name, f"sum(grad(sum(({expr}) ^ 2), x) * x)", gg(f), {"x": r(2, 3), "y": r(2, 3)})
compare("upsample''", "sum(grad(sum(upsample(x, 2) ^ 2), x) * x)",
        gg(lambda x: F.interpolate(x[None], scale_factor=2, mode="nearest")[0]), {"x": r(2, 2, 3)})
compare("avg_pool2d''", "sum(grad(sum(avg_pool2d(x, 2) ^ 2), x) * x)", gg(lambda x: F.avg_pool2d(x, 2)), {"x": img})
sys.exit(1 if any(failed) else 0)
