#!/usr/bin/env python3
"""The reductions and layers of issue 18 (max, min, argmax, logsumexp, var, std, norm, sqrt;
sin, cos, leaky_relu, elu, gelu, softplus, layer_norm, batch_norm, dropout's scaling,
embedding) through `gradlab grad`, against PyTorch float64: values and gradients (second
derivatives through grad() too) to 1e-9 relative. Not run by ctest (it needs python3-torch,
Debian's: /usr/bin/python3).  Usage: issue18_reductions_layers.py build/gradlab"""
import sys, os
sys.path.insert(0, os.path.dirname(__file__))
import torch
import torch.nn.functional as F
torch.manual_seed(1)
F64 = torch.float64
sys.argv = sys.argv[:2]
from issue18_common import compare, failed, run

a = torch.randn(3, 4, dtype=F64); p = torch.rand(3, 4, dtype=F64) + 0.5
t = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]], dtype=F64)  # ties
compare("max", "max(a)", lambda a: torch.amax(a), {"a": a})
compare("max axis", "max(a, axis=1) * 2", lambda a: torch.amax(a, 1) * 2, {"a": a})
compare("max keepdim", "max(a, axis=0, keepdim=true) * a", lambda a: torch.amax(a, 0, keepdim=True) * a, {"a": a})
compare("max ties", "max(t, axis=1) * 3", lambda t: torch.amax(t, 1) * 3, {"t": t})
compare("max all ties", "max(t) * 3", lambda t: torch.amax(t) * 3, {"t": t})
compare("min", "min(a) + min(a, axis=-1)", lambda a: torch.amin(a) + torch.amin(a, -1), {"a": a})
compare("min ties", "min(t, axis=0)", lambda t: torch.amin(t, 0), {"t": t})
compare("min keepdim", "min(a, axis=0, keepdim=true) * a", lambda a: torch.amin(a, 0, keepdim=True) * a, {"a": a})
compare("argmax", "a * argmax(a, axis=1, keepdim=true) + argmax(a)",
        lambda a: a * torch.argmax(a, 1, keepdim=True).double() + torch.argmax(a).double(), {"a": a})
compare("argmax ties", "t + argmax(t, axis=1, keepdim=true) + argmax(t)", lambda t: t + torch.argmax(t, 1, keepdim=True).double() + torch.argmax(t).double(),
        {"t": t})
compare("logsumexp", "logsumexp(a)", lambda a: torch.logsumexp(a, (0, 1)), {"a": a})
compare("logsumexp axis", "logsumexp(a * 300, axis=1)", lambda a: torch.logsumexp(a * 300, 1), {"a": a})
compare("logsumexp keep", "logsumexp(a, axis=0, keepdim=true) * a", lambda a: torch.logsumexp(a, 0, keepdim=True) * a, {"a": a})
compare("var", "var(a)", lambda a: torch.var(a), {"a": a})
compare("var axis", "var(a, axis=1)", lambda a: torch.var(a, 1), {"a": a})
compare("var biased", "var(a, axis=0, keepdim=true, unbiased=false) * a",
        lambda a: torch.var(a, 0, unbiased=False, keepdim=True) * a, {"a": a})
compare("std", "std(a)", lambda a: torch.std(a), {"a": a})
compare("std axis", "std(a, axis=1, unbiased=false)", lambda a: torch.std(a, 1, unbiased=False), {"a": a})
compare("std keepdim", "std(a, axis=-1, keepdim=true) * a", lambda a: torch.std(a, -1, keepdim=True) * a, {"a": a})
compare("norm", "norm(a)", lambda a: torch.linalg.norm(a), {"a": a})
compare("norm 0", "norm(z)", lambda z: torch.linalg.norm(z), {"z": torch.zeros(3, dtype=F64)})
compare("sqrt", "sqrt(p)", lambda p: torch.sqrt(p), {"p": p})
compare("sin cos", "sin(a) * cos(a)", lambda a: torch.sin(a) * torch.cos(a), {"a": a})
compare("leaky_relu", "leaky_relu(a) + leaky_relu(a, slope=0.2)",
        lambda a: F.leaky_relu(a) + F.leaky_relu(a, 0.2), {"a": a})
compare("elu", "elu(a) + elu(a, alpha=0.5)", lambda a: F.elu(a) + F.elu(a, 0.5), {"a": a})
compare("gelu", "gelu(a * 2)", lambda a: F.gelu(a * 2), {"a": a})
compare("softplus", "softplus(a * 5)", lambda a: F.softplus(a * 5), {"a": a})
g = torch.randn(4, dtype=F64); b = torch.randn(4, dtype=F64)
compare("layer_norm", "layer_norm(a, g, b) * a", lambda a, g, b: F.layer_norm(a, (4,), g, b) * a,
        {"a": a, "g": g, "b": b})
compare("layer_norm eps", "layer_norm(a, g, b, eps=0.1) * a", lambda a, g, b: F.layer_norm(a, (4,), g, b, eps=0.1) * a,
        {"a": a, "g": g, "b": b})
a3 = torch.randn(2, 3, 4, dtype=F64)
compare("layer_norm 3-D", "layer_norm(x, g, b) * x", lambda x, g, b: F.layer_norm(x, (4,), g, b) * x,
        {"x": a3, "g": g, "b": b})
compare("batch_norm 2-D", "batch_norm(a, g, b) * a",
        lambda a, g, b: F.batch_norm(a, None, None, g, b, training=True) * a, {"a": a, "g": g, "b": b})
x4 = torch.randn(2, 3, 2, 2, dtype=F64); g3 = torch.randn(3, dtype=F64); b3 = torch.randn(3, dtype=F64)
compare("batch_norm 4-D", "batch_norm(x, g, b, eps=0.01) * x",
        lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=0.01) * x, {"x": x4, "g": g3, "b": b3})
# dropout: gradlab's mask comes from its own Generator, so only the scaling is compared: the
# kept elements are x / (1 − p), the rest 0, and p = 0 is x itself.
compare("dropout p=0", "dropout(a, 0) * a", lambda a: a * a, {"a": a})
# p = 0.3: the mask read back from gradlab's own output (a has no zeros), then kept values
# and their gradients held to x / 0.7 and 1 / 0.7.
big = torch.randn(20, 30, dtype=F64)
kept = (torch.tensor(run("dropout(a, 0.3, seed=5)", {"a": big})["value"], dtype=F64) != 0).double()
assert 0.6 < kept.mean().item() < 0.8, kept.mean().item()
compare("dropout p=0.3", "dropout(a, 0.3, seed=5) * a", lambda a: a * kept / 0.7 * a, {"a": big})
W = torch.randn(5, 3, dtype=F64); idx = torch.tensor([[1.0, 4.0], [1.0, 0.0]], dtype=F64)
compare("embedding", "embedding(W, idx) * embedding(W, idx)",
        lambda W, idx: F.embedding(idx.long(), W) ** 2, {"W": W}, {"idx": idx})
for name, expr, f, x in [
        ("logsumexp''", "sum(grad(logsumexp(a), a) * a)", lambda a: (torch.autograd.grad(torch.logsumexp(a, (0, 1)), a, create_graph=True)[0] * a).sum(), a),
        ("std''", "sum(grad(std(a), a) * a)", lambda a: (torch.autograd.grad(torch.std(a), a, create_graph=True)[0] * a).sum(), a),
        ("norm''", "sum(grad(norm(a), a) * a * a)", lambda a: (torch.autograd.grad(torch.linalg.norm(a), a, create_graph=True)[0] * a * a).sum(), a),
        ("gelu''", "sum(grad(sum(gelu(a)), a) * a)", lambda a: (torch.autograd.grad(F.gelu(a).sum(), a, create_graph=True)[0] * a).sum(), a),
        ("elu''", "sum(grad(sum(elu(a)), a) * a)", lambda a: (torch.autograd.grad(F.elu(a).sum(), a, create_graph=True)[0] * a).sum(), a),
        ("softplus''", "sum(grad(sum(softplus(a)), a) * a)", lambda a: (torch.autograd.grad(F.softplus(a).sum(), a, create_graph=True)[0] * a).sum(), a),
        ("sin''", "sum(grad(sum(sin(a) * cos(a)), a) * a)", lambda a: (torch.autograd.grad((torch.sin(a) * torch.cos(a)).sum(), a, create_graph=True)[0] * a).sum(), a),
        ("layer_norm''", "sum(grad(sum(layer_norm(a, g, b) ^ 3), a) * a)",
         lambda a, g, b: (torch.autograd.grad((F.layer_norm(a, (4,), g, b) ** 3).sum(), a, create_graph=True)[0] * a).sum(), a)]:
    compare(name, expr, f, {"a": x}, {"g": g, "b": b} if "layer_norm" in name else {})
sys.exit(1 if any(failed) else 0)
