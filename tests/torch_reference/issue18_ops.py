#!/usr/bin/env python3
"""The ops of issue 18 (masks, linear algebra) through `gradlab grad`, against PyTorch float64:
values and gradients (second derivatives through grad() too) to 1e-9 relative; matrices square
and not, one and a batch, and the identities of tutorial 6 (tr(AXB), log|det X| with det X < 0). Not run by ctest
(it needs python3-torch, Debian's: /usr/bin/python3).  Usage: issue18_ops.py build/gradlab"""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
import torch
torch.manual_seed(0)
from issue18_common import compare, failed
X = torch.randn(4, 4, dtype=torch.float64) * 0.4 + torch.eye(4, dtype=torch.float64)
Xb = torch.randn(3, 3, 3, dtype=torch.float64) * 0.4 + torch.eye(3, dtype=torch.float64)
B = torch.randn(4, 2, dtype=torch.float64); v = torch.randn(4, dtype=torch.float64)
a = torch.randn(3, 4, dtype=torch.float64); b = torch.randn(4, dtype=torch.float64)
compare("trace", "trace(X @ X)", lambda X: torch.trace(X @ X), {"X": X})
compare("diag", "diag(v) @ X + diag(X)", lambda v, X: torch.diag(v) @ X + torch.diag(X), {"v": v, "X": X})
compare("eye", "X * eye(4)", lambda X: X * torch.eye(4, dtype=torch.float64), {"X": X})
compare("inverse", "inverse(X)", lambda X: torch.inverse(X), {"X": X})
compare("inverse batch", "inverse(X)", lambda X: torch.inverse(X), {"X": Xb})
compare("det", "det(X)", lambda X: torch.det(X), {"X": X})
compare("det batch", "det(X)", lambda X: torch.det(X), {"X": Xb})
compare("solve", "solve(X, B)", lambda X, B: torch.linalg.solve(X, B), {"X": X, "B": B})
compare("solve vector", "solve(X, v)", lambda X, v: torch.linalg.solve(X, v), {"X": X, "v": v})
for k in (0, 1, 3, 4, -1, -3):
    compare(f"matrix_power {k}", f"matrix_power(X, {k}) + X", lambda X, k=k: torch.linalg.matrix_power(X, k) + X, {"X": X})
# Beyond square matrices and one matrix at a time: torch.trace and torch.diag take [m, n] too.
R = torch.randn(3, 4, dtype=torch.float64)
compare("trace [3, 4]", "trace(R) * 2", lambda R: torch.trace(R) * 2, {"R": R})
compare("diag [3, 4]", "diag(R)", lambda R: torch.diag(R), {"R": R})
compare("diag [4, 3]", "diag(transpose(R))", lambda R: torch.diag(R.T), {"R": R})
compare("eye [3, 4]", "R * eye(3, m=4)", lambda R: R * torch.eye(3, 4, dtype=torch.float64), {"R": R})
Bb = torch.randn(3, 3, 2, dtype=torch.float64)
compare("solve batch", "solve(X, B)", lambda X, B: torch.linalg.solve(X, B), {"X": Xb, "B": Bb})
for k in (2, -2):
    compare(f"matrix_power batch {k}", f"matrix_power(X, {k})", lambda X, k=k: torch.linalg.matrix_power(X, k), {"X": Xb})
# Tutorial 6's identities, every operand differentiated: ∂tr(AXB)/∂X = AᵀBᵀ, and log|det X| for
# a matrix whose determinant is negative, as torch.slogdet's log|det|.
P = torch.randn(2, 4, dtype=torch.float64); Q = torch.randn(4, 2, dtype=torch.float64)
compare("trace(A X B)", "trace(A @ X @ B)", lambda A, X, B: torch.trace(A @ X @ B), {"A": P, "X": X, "B": Q})
Xneg = X if torch.det(X) < 0 else X[[1, 0, 2, 3]]  # a swap of two rows flips the sign
assert torch.det(Xneg) < 0
compare("log|det X|", "log(abs(det(X)))", lambda X: torch.slogdet(X)[1], {"X": Xneg})
compare("log|det X| batch", "log(abs(det(X)))", lambda X: torch.slogdet(X)[1], {"X": Xb})
compare("comparisons", "a * ((a > b) + (a < 0.5) + (a >= b) + (a <= 0) + (a == a) + (a != b))",
        lambda a, b: a * ((a > b).double() + (a < 0.5).double() + (a >= b).double() + (a <= 0).double() + (a == a).double() + (a != b).double()), {"a": a, "b": b})
compare("where", "where(a > 0, a ^ 2, b)", lambda a, b: torch.where(a > 0, a ** 2, b), {"a": a, "b": b})
compare("where broadcast", "where(b > 0, a, 2 * b)", lambda a, b: torch.where(b > 0, a, 2 * b), {"a": a, "b": b})
compare("where scalar", "where(a < 0, 0.5, a)", lambda a: torch.where(a < 0, torch.tensor(0.5, dtype=torch.float64), a), {"a": a})
compare("comparisons broadcast", "(b > a) * a + (a <= b) * b", lambda a, b: (b > a).double() * a + (a <= b).double() * b, {"a": a, "b": b})
compare("maximum", "maximum(a, b)", lambda a, b: torch.maximum(a, b), {"a": a, "b": b})
compare("minimum", "minimum(a, b)", lambda a, b: torch.minimum(a, b), {"a": a, "b": b})
t = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64); u = torch.tensor([2.0, 2.0, 1.0], dtype=torch.float64)
compare("maximum ties", "maximum(a, b) * 3", lambda a, b: torch.maximum(a, b) * 3, {"a": t, "b": u})
compare("minimum ties", "minimum(a, b) * 3", lambda a, b: torch.minimum(a, b) * 3, {"a": t, "b": u})
compare("clamp", "clamp(a, min=-0.5, max=0.7)", lambda a: torch.clamp(a, min=-0.5, max=0.7), {"a": a})
compare("clamp bounds", "clamp(a, min=-1, max=1)", lambda a: torch.clamp(a, min=-1, max=1), {"a": torch.tensor([-1.0, 0.0, 1.0, 2.0], dtype=torch.float64)})
compare("clamp min", "clamp(a, min=0.1)", lambda a: torch.clamp(a, min=0.1), {"a": a})
compare("clamp max", "clamp(a, max=0.1)", lambda a: torch.clamp(a, max=0.1), {"a": a})
compare("sign", "sign(a) * a", lambda a: torch.sign(a) * a, {"a": a})
# second derivatives through grad(): d/dX of sum(grad(det(X), X)) and of sum(grad(sum(inverse(X)), X))
for name, expr, f in [("det'' ", "sum(grad(det(X), X) * X)", lambda X: (torch.autograd.grad(torch.det(X), X, create_graph=True)[0] * X).sum()),
                      ("inverse''", "sum(grad(sum(inverse(X)), X) * X)", lambda X: (torch.autograd.grad(torch.inverse(X).sum(), X, create_graph=True)[0] * X).sum()),
                      ("log|det X|''", "sum(grad(log(abs(det(X))), X) * X * X)", lambda X: (torch.autograd.grad(torch.slogdet(X)[1], X, create_graph=True)[0] * X * X).sum())]:
    compare(name, expr, f, {"X": X})
sys.exit(1 if any(failed) else 0)
