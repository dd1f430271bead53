#!/usr/bin/env python3
"""PyTorch's conventions of issue 18 (matmul of vectors and broadcast batches, conv_transpose2d's
positional order, expand with -1, mse_loss broadcasting, sum/mean over several axes, float32
promoted with float64, cross_entropy's ignore_index and probability targets) through `gradlab
grad`, against PyTorch float64: values and gradients (second derivatives through grad() too) to
1e-9 relative. Not run by ctest (it needs python3-torch, Debian's: /usr/bin/python3).
Usage: issue18_conventions.py build/gradlab"""
import sys, os
import warnings
sys.path.insert(0, os.path.dirname(__file__))
import torch
import torch.nn.functional as F
torch.manual_seed(2)
F64 = torch.float64
from issue18_common import compare, failed


def r(*shape):
    return torch.randn(*shape, dtype=F64)


# matmul: vectors are a row (left) or a column (right), the 1 then removed; batches broadcast.
for a, b in [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)),
             ((3, 4), (2, 4, 2)), ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (5, 4, 6)),
             ((1, 2, 3, 4), (3, 1, 4, 2)), ((2, 3, 4), (1, 4, 2))]:
    compare(f"matmul {list(a)}@{list(b)}", "sigmoid(A @ B)", lambda A, B: torch.sigmoid(A @ B),
            {"A": r(*a), "B": r(*b)})
compare("matmul''", "sum(grad(sum(sigmoid(A @ B)), A) * A)",
        lambda A, B: (torch.autograd.grad(torch.sigmoid(A @ B).sum(), A, create_graph=True)[0] * A).sum(),
        {"A": r(2, 1, 3, 4), "B": r(5, 4, 2)})

# conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
x, w, bias = r(2, 4, 3, 3), r(4, 1, 2, 2), r(2)
compare("conv_transpose2d positional", "conv_transpose2d(x, w, b, 2, 1, 1, 2, 3)",
        lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1, 2, 3), {"x": x, "w": w, "b": bias})
compare("conv_transpose2d keywords", "conv_transpose2d(x, w, b, stride=[2, 1], dilation=2, groups=2)",
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=(2, 1), dilation=2, groups=2),
        {"x": x, "w": w, "b": bias})

# expand with -1
compare("expand -1", "expand(c, 2, -1, 3) * expand(c, -1, 3)",
        lambda c: c.expand(2, -1, 3) * c.expand(-1, 3), {"c": r(4, 1)})

# mse_loss broadcasts (torch warns when the shapes differ)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    compare("mse_loss [3,1] [4]", "mse_loss(p, t)", lambda p, t: F.mse_loss(p, t), {"p": r(3, 1), "t": r(4)})
    compare("mse_loss [2,3] [3]", "mse_loss(p, t)", lambda p, t: F.mse_loss(p, t), {"p": r(2, 3), "t": r(3)})

# sum and mean over several axes
t = r(2, 3, 4)
compare("sum [0, 2]", "sum(t, axis=[0, 2]) ^ 2", lambda t: t.sum(dim=[0, 2]) ** 2, {"t": t})
compare("sum [-1, 0] keepdim", "sum(t, axis=[-1, 0], keepdim=true) * t",
        lambda t: t.sum(dim=[-1, 0], keepdim=True) * t, {"t": t})
compare("mean [1, 2]", "mean(t, axis=[1, 2]) ^ 2", lambda t: t.mean(dim=[1, 2]) ** 2, {"t": t})
compare("mean [0, 1] keepdim", "mean(t * t, axis=[0, 1], keepdim=true)",
        lambda t: (t * t).mean(dim=[0, 1], keepdim=True), {"t": t})

# float32 with float64: promoted to float64 (the float32 operand's numbers rounded to float32)
a, b = r(3, 4), r(4)
compare("promote +", "to(a, float32) + b", lambda a, b: a.float() + b, {"a": a, "b": b})
compare("promote * /", "to(a, float32) * b / (2 + to(b, float32) ^ 2)",
        lambda a, b: a.float() * b / (2 + b.float() ** 2), {"a": a, "b": b})
# (torch 1.13's matmul refuses float32 @ float64; gradlab promotes it as it does a * b)
compare("promote @", "to(a, float32) @ b", lambda a, b: a.float().double() @ b, {"a": a, "b": b})
compare("promote maximum", "maximum(to(a, float32), b) + (to(a, float32) > b)",
        lambda a, b: torch.maximum(a.float(), b) + (a.float() > b).double(), {"a": a, "b": b})

# cross_entropy: ignore_index (mean over the rest), probability targets
z = r(5, 4)
y = torch.tensor([1, 0, 3, 1, 2])
compare("cross_entropy ignore_index", "cross_entropy(z, y, ignore_index=1)",
        lambda z, y: F.cross_entropy(z, y.long(), ignore_index=1), {"z": z}, {"y": y.double()})
compare("cross_entropy -100", "cross_entropy(z, y)",
        lambda z, y: F.cross_entropy(z, y.long()), {"z": z}, {"y": torch.tensor([1., -100, 3, -100, 2])})
compare("cross_entropy probabilities", "cross_entropy(z, p)",
        lambda z, p: F.cross_entropy(z, p), {"z": z, "p": torch.softmax(r(5, 4), 1)})
compare("cross_entropy ignore''", "sum(grad(cross_entropy(z, y, ignore_index=0), z) * z)",
        lambda z, y: (torch.autograd.grad(F.cross_entropy(z, y.long(), ignore_index=0), z,
                                          create_graph=True)[0] * z).sum(), {"z": z}, {"y": y.double()})
sys.exit(1 if any(failed) else 0)
