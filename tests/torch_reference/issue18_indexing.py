#!/usr/bin/env python3
"""The indexing ops of issue 18 (subscripts x[a:b, i], x[idx], x[arange(n), y]; one_hot,
index_add, gather, scatter_add; embedding as W[idx]) through `gradlab grad`, against PyTorch
float64: values and gradients (second derivatives through grad() too) to 1e-9 relative.
Index tensors are float constants in gradlab and int64 in torch. Not run by ctest (it needs
python3-torch, Debian's: /usr/bin/python3).
Usage: issue18_indexing.py build/gradlab"""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
import torch
import torch.nn.functional as F
torch.manual_seed(0)
from issue18_common import compare, failed
r = lambda *shape: torch.randn(shape, dtype=torch.float64)
L = lambda t: t.long()
x, c = r(4, 5), r(2, 3, 4)
for sub in ["1:3", "::2", "-1", "1:-1:2, 0", ":, 1:4:2", "-3:, -2", "3:10", "-10:2", "2, 3", ":, -1"]:
    compare(f"x[{sub}]", f"x[{sub}] ^ 2", lambda x, sub=sub: eval(f"x[{sub}]") ** 2, {"x": x})
for sub in ["0, :, 1:3", ":, ::2, -1", "1][0", "-1, 1:, ::3", ":, :, 2"]:
    compare(f"c[{sub}]", f"exp(c[{sub}])", lambda c, sub=sub: eval(f"c[{sub}]").exp(), {"c": c})
# (past the end: empty, compared with rows after it, as the shared compare() needs a shape)
compare("x[5:10]", "concat([x[5:10], x[1:]])", lambda x: torch.cat([x[5:10], x[1:]]), {"x": x})
idx, y = torch.tensor([[3.0, 0.0], [-1.0, 3.0]]), torch.tensor([4.0, 0.0, -2.0, 1.0])
compare("x[idx]", "x[idx] * x[idx]", lambda x, idx: x[L(idx)] ** 2, {"x": x}, {"idx": idx})
compare("x[arange(n), y]", "x[arange(4), y] ^ 2", lambda x, y: x[torch.arange(4), L(y)] ** 2, {"x": x}, {"y": y})
compare("x[idx, y]", "x[idx, y[0:2]]", lambda x, idx, y: x[L(idx), L(y[0:2])], {"x": x}, {"idx": idx, "y": y})
i2 = torch.tensor([1.0, 0.0, 1.0])
compare("c[:, idx]", "c[:, i2] * 3", lambda c, i2: c[:, L(i2)] * 3, {"c": c}, {"i2": i2})
compare("c[idx, :, idx]", "c[i2, :, i2] ^ 2", lambda c, i2: c[L(i2), :, L(i2)] ** 2, {"c": c}, {"i2": i2})
compare("c[0, :, idx]", "c[0, :, i2] ^ 2", lambda c, i2: c[0, :, L(i2)] ** 2, {"c": c}, {"i2": i2})
compare("c[..., idx]", "c[..., i2] ^ 2", lambda c, i2: c[..., L(i2)] ** 2, {"c": c}, {"i2": i2})
compare("c[idx, None, idx]", "c[i2, None, i2] ^ 2", lambda c, i2: c[L(i2), None, L(i2)] ** 2, {"c": c}, {"i2": i2})
compare("c[None, ..., 0]", "c[None, ..., 0] ^ 2", lambda c: c[None, ..., 0] ** 2, {"c": c})
compare("c[1, ..., None]", "c[1, ..., None] ^ 2", lambda c: c[1, ..., None] ** 2, {"c": c})
compare("c[:, 1:, idx]", "c[:, 1:, i2] ^ 2", lambda c, i2: c[:, 1:, L(i2)] ** 2, {"c": c}, {"i2": i2})
W = r(6, 3)
rows = torch.tensor([[5.0, 0.0, 5.0], [2.0, 2.0, 1.0]])
compare("embedding", "embedding(W, rows) ^ 2 - W[rows] * 2", lambda W, rows: F.embedding(L(rows), W) ** 2 - W[L(rows)] * 2,
        {"W": W}, {"rows": rows})
compare("one_hot", "one_hot(y2, 5) * x", lambda y2, x: F.one_hot(L(y2), 5).double() * x, {"x": x},
        {"y2": torch.tensor([4.0, 0.0, 2.0, 4.0])})
t, s = r(4, 3), r(5, 3)
j = torch.tensor([3.0, 0.0, 3.0, 1.0, 3.0])
compare("index_add", "index_add(t, j, s) ^ 2", lambda t, s, j: t.index_add(0, L(j), s) ** 2, {"t": t, "s": s}, {"j": j})
compare("index_add axis", "index_add(t, k, u, axis=1) ^ 2", lambda t, u, k: t.index_add(1, L(k), u) ** 2,
        {"t": t, "u": r(4, 2)}, {"k": torch.tensor([2.0, 2.0])})
gi = torch.tensor([[[1.0, 0.0, 2.0, 2.0]], [[0.0, 0.0, 1.0, 2.0]]])  # [2, 1, 4]
compare("gather", "gather(c, 1, gi) ^ 2", lambda c, gi: torch.gather(c, 1, L(gi)) ** 2, {"c": c}, {"gi": gi})
compare("gather last", "gather(x, -1, gj) ^ 2", lambda x, gj: torch.gather(x, -1, L(gj)) ** 2, {"x": x},
        {"gj": torch.tensor([[4.0, 4.0], [0.0, 1.0], [3.0, 2.0]])})
compare("scatter_add", "scatter_add(c, 1, gi, s2) ^ 2",
        lambda c, s2, gi: torch.scatter_add(c, 1, L(gi), s2) ** 2, {"c": c, "s2": r(2, 1, 4)}, {"gi": gi})
# second derivatives through grad()
gg = lambda f: lambda x, **_: (torch.autograd.grad(f(x).pow(2).sum(), x, create_graph=True)[0] * x).sum()
xx = r(3, 4)
for name, expr, f in [
        ("slice''", "x[1:, ::2] * x[:2, 1::2]", lambda x: x[1:, ::2] * x[:2, 1::2]),
        ("select''", "x[-1] * x[:, 0][0]", lambda x: x[-1] * x[:, 0][0]),
        ("index''", "x[q] * x[q]", lambda x: x[torch.tensor([2, 0, 2])] ** 2),
        ("pairs''", "x[q, arange(3)] ^ 3", lambda x: x[torch.tensor([2, 0, 2]), torch.arange(3)] ** 3),
        ("gather''", "gather(x, 1, g) ^ 3", lambda x: torch.gather(x, 1, torch.tensor([[0, 0], [3, 1], [2, 2]])) ** 3),
        ("index_add''", "index_add(x, q, x * x)", lambda x: x.index_add(0, torch.tensor([2, 0, 2]), x * x)),
        ("scatter_add''", "scatter_add(x, 1, g, (x * x)[:, 1:3])",
         lambda x: torch.scatter_add(x, 1, torch.tensor([[0, 0], [3, 1], [2, 2]]), (x * x)[:, 1:3]))]:
    compare(name, f"sum(grad(sum(({expr}) ^ 2), x) * x)", gg(f), {"x": xx},
            {"q": torch.tensor([2.0, 0.0, 2.0]), "g": torch.tensor([[0.0, 0.0], [3.0, 1.0], [2.0, 2.0]])})
sys.exit(1 if any(failed) else 0)
