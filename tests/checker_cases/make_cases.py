#!/usr/bin/env python3
"""Regenerates the held-out `gradlab check` cases in this folder (*.json), in the format of the
development set /work/shared/textbook/ (see README.md here).

Every number in the files is made here: the inputs from seeded NumPy generators, the true
gradients by evaluating the published formula with NumPy float64 (through gl.py, a NumPy reading
of gradlab's expression language, so that the claim strings in the JSON are the ones evaluated)
and each of them checked against central finite differences of the expression; the values of
the mutated claims the same way. Run:  /usr/bin/python3 make_cases.py   (needs NumPy).
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gl import run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

FAMILY = {
    1: "missing or extra term",
    2: "transposed",
    3: "wrong or missing reduction",
    4: "activation derivative at the wrong point",
    5: "softmax Jacobian taken elementwise",
    6: "kernel flip (convolution vs correlation)",
    7: "max vs average pooling",
    8: "upstream gradient forgotten",
    9: "constant factor",
    10: "missing local derivative",
    11: "another variable or sign",
}

# Patterns a diagnosis that names the slip in plain words matches (re.I).
SIGN = r"sign|−1 times|-1 times|negat|opposite"
TRANSPOSED = r"transpos"
AXIS = r"axis|axes|batch|rows|examples|columns"
SCALAR = r"sum|reduc|scalar|broadcast|per[- ]example|batch|0-d|0-dimensional"
SIG_POINT = r"input|output|pre-?activation|sigmoid|σ"
TANH_AS_SIG = r"tanh|sigmoid|σ"
HALF = r"0\.5 times|½|half|factor (of )?2|square"
DOUBLE = r"\b2 times|twice|½|half|factor (of )?2|square"
UPSTREAM = r"upstream|seed|incoming|output gradient|dout|∂L/∂y|\bG\b"
FLIP = r"flip|rotat|180|convolution|correlation"
SOFTMAX = r"softmax|jacobian|elementwise|element-wise|off-diagonal|row ?sum|−s·sᵀ|-s s"
CHANNELS = r"transpos|swap|axes|channel"
REG = r"regulari|penalty|weight decay|λ|lam\b|lambda|α|alpha|Ω"
REG_TERM = REG + r"|term"


def other(name):
    return rf"\b{name}\b|another|other variable|wrong variable|different variable"


def times(k):
    return rf"\b{k} times|1/n\b|1/N\b|mean|average|batch size|number of examples"


def local(node):
    return rf"{node}|local derivative"


class R:
    """Seeded numbers, rounded as a learner would write them."""

    def __init__(self, seed):
        self.g = np.random.default_rng(seed)

    def n(self, *shape, scale=1.0, d=3):
        return np.round(self.g.standard_normal(shape) * scale, d)

    def u(self, *shape, lo=0.0, hi=1.0, d=3):
        return np.round(self.g.uniform(lo, hi, shape), d)


def tolist(a):
    a = np.asarray(a, dtype=float)
    return a.tolist()


def central_differences(expr, env, seed, name, steps, h=1e-5):
    """∂ sum(value ∘ seed) / ∂ name, name an input or a named step."""
    def loss(e, perturb=None):
        v, _ = run(expr, e, perturb)
        return float(np.sum(v * seed)) if seed is not None else float(np.sum(v))

    base = np.asarray(steps[name], dtype=float)
    g = np.zeros(base.shape)
    for idx in np.ndindex(*base.shape):
        d = np.zeros(base.shape)
        d[idx] = h
        if name in env:
            lo, hi = dict(env), dict(env)
            lo[name], hi[name] = base - d, base + d
            g[idx] = (loss(hi) - loss(lo)) / (2 * h)
        else:
            g[idx] = (loss(env, (name, d)) - loss(env, (name, -d))) / (2 * h)
    return g


def evaluate_claim(claim, steps):
    if isinstance(claim, str):
        v, _ = run(claim, steps)
        return np.asarray(v, dtype=float)
    return np.asarray(claim, dtype=float)


LOG = []


def case(id, source, formula, expr, inputs, constants, claims, mutations, seed=None,
         expressible="direct", workaround=None, missing=None, direct=None, tiny=False):
    env = {k: np.asarray(v, dtype=float) for k, v in {**inputs, **constants}.items()}
    value, steps = run(expr, env)
    seed_arr = None
    if seed is not None:
        seed_arr = np.asarray(seed, dtype=float)
        assert seed_arr.shape == np.shape(value), (id, seed_arr.shape, np.shape(value))
    true = {}
    for name, claim in claims.items():
        formula_value = evaluate_claim(claim, steps)
        fd = central_differences(expr, env, seed_arr, name, steps)
        assert formula_value.shape == fd.shape, (id, name, formula_value.shape, fd.shape)
        scale = float(np.max(np.abs(fd)))
        err = float(np.max(np.abs(formula_value - fd)))
        assert err <= 1e-5 * scale + 1e-11, f"{id}: claim {name} is not the gradient: err {err:.3g}, scale {scale:.3g}"
        true[name] = formula_value
        LOG.append(f"{id:32s} {name:7s} |grad| {scale:9.3g}  formula vs central differences {err / max(scale, 1e-300):.1e} rel")
    muts = []
    for m in mutations:
        c = m["claim"]
        claimed = evaluate_claim(m["to"], steps)
        t = true[c]
        note = ""
        if claimed.shape == t.shape:
            diff = float(np.max(np.abs(claimed - t)))
            assert diff > 1e-3 * float(np.max(np.abs(t))), f"{id}: mutation {m['slip']!r} equals the truth"
            if isinstance(m["to"], str):  # a formula slip must not collapse to zero by accident
                assert float(np.max(np.abs(claimed))) > 1e-3 * float(np.max(np.abs(t))), f"{id}: {m['slip']!r} is ~0"
            if tiny:
                note = f" max|claim - true| = {diff:.2g} ({'within' if diff <= 1e-6 else 'outside'} 1e-6)"
        else:
            note = f" shape {list(claimed.shape)} vs {list(t.shape)}"
        LOG.append(f"{id:32s}   slip {m['family']:2d} on {c}: {m['slip']}{note}")
        out = {
            "slip": m["slip"],
            "kind": FAMILY[m["family"]],
            "family": m["family"],
            "claim": c,
            "claims": {c: m["to"] if isinstance(m["to"], str) else tolist(m["to"])},
            "expect": {c: "wrong"},
            "first_wrong_step": c,
            "names": m["names"],
        }
        if "indirect" in m:
            out["indirect"] = m["indirect"]
        out["numpy_claimed"] = {c: tolist(claimed)}
        muts.append(out)
    doc = {"expr": expr, "inputs": {k: tolist(v) for k, v in inputs.items()},
           "constants": {k: tolist(v) for k, v in constants.items()}}
    if seed is not None:
        doc["seed"] = tolist(seed)
    doc["claims"] = {k: (v if isinstance(v, str) else tolist(v)) for k, v in claims.items()}
    out = {"id": id, "source": source, "formula": formula, "expressible": expressible}
    if workaround:
        out["workaround"] = workaround
    if missing:
        out["missing"] = missing
    if direct:
        out["direct"] = direct
    out["doc"] = doc
    out["expect"] = {k: "match" for k in claims}
    out["numpy"] = {"true": {k: tolist(v) for k, v in true.items()}}
    out["mutations"] = muts
    with open(os.path.join(HERE, id + ".json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    return out


def onehot(idx, k):
    y = np.zeros((len(idx), k))
    y[np.arange(len(idx)), idx] = 1.0
    return y


# ---------------------------------------------------------------------------------------------
def nielsen_bp():
    r = R(101)
    X, W1, b1, W2, b2 = r.n(4, 5), r.n(3, 4), r.n(3, 1), r.n(3, 3), r.n(3, 1)
    Y = r.u(3, 5, lo=0.05, hi=0.95)
    d2 = "d2 = (a2 - Y) / 5 * a2 * (1 - a2); "
    d1 = "d1 = (transpose(W2) @ d2) * a1 * (1 - a1); "
    case(
        "nielsen_backprop_bp1_bp4",
        "Michael Nielsen, Neural Networks and Deep Learning, ch. 2 'How the backpropagation algorithm works': "
        "BP1 δᴸ = ∇ₐC ⊙ σ′(zᴸ), BP2 δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ), BP3 ∂C/∂bˡ = δˡ, BP4 ∂C/∂wˡ = δˡ (aˡ⁻¹)ᵀ, "
        "with the quadratic cost C = 1/(2n) Σₓ ‖y(x) − aᴸ(x)‖² (eq. 6) and a mini-batch of n = 5 examples as the "
        "columns of X (the chapter's 'fully matrix-based approach'); BP3 summed over the mini-batch",
        "two-layer sigmoid net in Nielsen's column layout (4-3-3, n = 5): δ² = (a² − y)/n ⊙ σ′(z²), δ¹ = (W²ᵀδ²) ⊙ σ′(z¹), "
        "∂C/∂W¹ = δ¹ Xᵀ, ∂C/∂W² = δ² a¹ᵀ, ∂C/∂b¹ = Σ_columns δ¹",
        "z1 = W1 @ X + b1; a1 = sigmoid(z1); z2 = W2 @ a1 + b2; a2 = sigmoid(z2); sum((a2 - Y)^2) / (2 * 5)",
        {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, {"X": X, "Y": Y},
        {
            "z2": "(a2 - Y) / 5 * a2 * (1 - a2)",
            "z1": d2 + "(transpose(W2) @ d2) * a1 * (1 - a1)",
            "W2": d2 + "d2 @ transpose(a1)",
            "W1": d2 + d1 + "d1 @ transpose(X)",
            "b1": d2 + d1 + "sum(d1, axis=1, keepdim=true)",
        },
        [
            dict(slip="σ′(z²) written z²(1 − z²): the sigmoid's derivative taken at its input, not its output",
                 family=4, claim="z2", to="(a2 - Y) / 5 * z2 * (1 - z2)", names=SIG_POINT),
            dict(slip="BP2 with W² where W²ᵀ belongs", family=2, claim="z1",
                 to=d2 + "(W2 @ d2) * a1 * (1 - a1)", names=TRANSPOSED),
            dict(slip="BP3 read per example: ∂C/∂b¹ = δ¹ not summed over the mini-batch", family=3, claim="b1",
                 to=d2 + d1 + "d1", names=SCALAR, indirect="shape"),
            dict(slip="σ′(z¹) of the hidden layer forgotten in ∂C/∂W¹ (only ∂C/∂W¹ claimed)", family=10, claim="W1",
                 to=d2 + "d1 = transpose(W2) @ d2; d1 @ transpose(X)", names=local("sigmoid|σ′|σ'")),
            dict(slip="the 1/n of the cost forgotten in ∂C/∂W¹", family=9, claim="W1",
                 to="d2 = (a2 - Y) * a2 * (1 - a2); " + d1 + "d1 @ transpose(X)", names=times(5)),
        ],
    )


def nielsen_vanishing():
    r = R(202)
    # a chain of four sigmoid neurons, small later weights: ∂C/∂b₁ ~ 1e-7 (Nielsen's point)
    x = r.n(6)
    y = r.u(6, lo=0.05, hi=0.95)
    ins = {"w1": 0.913, "b1": -0.274, "w2": 0.074, "b2": 0.352, "w3": -0.102, "b3": -0.118, "w4": 0.069, "b4": 0.209}
    chain = "a1 * (1 - a1) * w2 * a2 * (1 - a2) * w3 * a3 * (1 - a3) * w4 * a4 * (1 - a4)"
    case(
        "nielsen_vanishing_gradient_chain",
        "Michael Nielsen, Neural Networks and Deep Learning, ch. 5 'Why are deep neural networks hard to train?', "
        "'What's causing the vanishing gradient problem?': for a chain of single sigmoid neurons "
        "∂C/∂b₁ = σ′(z₁) w₂ σ′(z₂) w₃ σ′(z₃) w₄ σ′(z₄) ∂C/∂a₄; here with C = 1/(2n) Σ (a₄ − y)² over a "
        "mini-batch of n = 6 and small later weights, so that ∂C/∂b₁ and ∂C/∂w₁ are ~1e-7",
        "four-neuron sigmoid chain, n = 6: ∂C/∂b₁ = (1/n) Σ σ′(z₁)w₂σ′(z₂)w₃σ′(z₃)w₄σ′(z₄)(a₄ − y) "
        "(|∂C/∂b₁| ~ 1e-7), δ₁ = ∂C/∂z₁ the same per example, ∂C/∂w₁ with a factor x, ∂C/∂b₄ = (1/n) Σ σ′(z₄)(a₄ − y)",
        "z1 = w1 * x + b1; a1 = sigmoid(z1); z2 = w2 * a1 + b2; a2 = sigmoid(z2); z3 = w3 * a2 + b3; "
        "a3 = sigmoid(z3); z4 = w4 * a3 + b4; a4 = sigmoid(z4); sum((a4 - y)^2) / (2 * 6)",
        ins, {"x": x, "y": y},
        {
            "z1": f"{chain} * (a4 - y) / 6",
            "b1": f"sum({chain} * (a4 - y)) / 6",
            "w1": f"sum(x * {chain} * (a4 - y)) / 6",
            "b4": "sum(a4 * (1 - a4) * (a4 - y)) / 6",
        },
        [
            dict(slip="∂C/∂b₁ left per example: the sum over the mini-batch for a scalar bias forgotten", family=3,
                 claim="b1", to=f"{chain} * (a4 - y) / 6", names=SCALAR, indirect="shape"),
            dict(slip="σ′(z₁) written z₁(1 − z₁) (at the input of the sigmoid) in δ₁ = ∂C/∂z₁", family=4,
                 claim="z1", to=chain.replace("a1 * (1 - a1)", "z1 * (1 - z1)") + " * (a4 - y) / 6",
                 names=SIG_POINT),
            dict(slip="σ′(z₁) written (1 − a₁) in δ₁: the factor a₁ of a₁(1 − a₁) dropped", family=4, claim="z1",
                 to=chain.replace("a1 * (1 - a1)", "(1 - a1)") + " * (a4 - y) / 6",
                 names=r"sigmoid|σ′|σ'|\ba1\b"),
            dict(slip="the 1/n of the cost forgotten in ∂C/∂b₁ (6 times the tiny true gradient)", family=9,
                 claim="b1", to=f"sum({chain} * (a4 - y))", names=times(6)),
            dict(slip="the ½ of 1/(2n) kept after differentiating the square (half the tiny true ∂C/∂b₁)", family=9,
                 claim="b1", to=f"sum({chain} * (a4 - y)) / 12", names=HALF),
            dict(slip="∂C/∂a₄ = (a₄ − y) forgotten in δ₁: the chain of local derivatives alone", family=8,
                 claim="z1", to=f"{chain} / 6", names=UPSTREAM + r"|a4 - y|a4 − y|∂C/∂a|residual|error"),
        ],
        tiny=True,
    )


def bishop_tanh():
    r = R(303)
    X, W1, b1, W2, b2, T = r.n(4, 3), r.n(3, 3), r.n(3), r.n(3, 3), r.n(3), r.n(4, 3)
    case(
        "bishop_prml_tanh_sum_of_squares",
        "Christopher Bishop, Pattern Recognition and Machine Learning (2006) §5.3.2 'A simple example': two-layer "
        "network with tanh hidden units and linear outputs, Eₙ = ½ Σₖ (yₖ − tₖ)² (5.61), δₖ = yₖ − tₖ (5.65), "
        "δⱼ = (1 − zⱼ²) Σₖ wₖⱼ δₖ (5.66), ∂Eₙ/∂wⱼᵢ = δⱼ xᵢ (5.67); E = Σₙ Eₙ over N = 4 patterns (rows), "
        "weights indexed wⱼᵢ as in the book (W1: hidden × input, W2: output × hidden)",
        "tanh hidden layer, sum-of-squares error (N = 4, D = M = K = 3): δ_hidden = (1 − z²) ∘ ((y − T) W2), "
        "∂E/∂W1 = δ_hiddenᵀ X, ∂E/∂W2 = (y − T)ᵀ z",
        "a = X @ transpose(W1) + b1; z = tanh(a); y = z @ transpose(W2) + b2; 0.5 * sum((y - T)^2)",
        {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, {"X": X, "T": T},
        {
            "a": "(1 - z^2) * ((y - T) @ W2)",
            "W1": "transpose((1 - z^2) * ((y - T) @ W2)) @ X",
            "W2": "transpose(y - T) @ z",
        },
        [
            dict(slip="tanh′ = 1 − z² forgotten in ∂E/∂W1 (only ∂E/∂W1 claimed)", family=10, claim="W1",
                 to="transpose((y - T) @ W2) @ X", names=local("tanh|1 - z|1 − z")),
            dict(slip="the hidden unit's derivative taken as the sigmoid's z(1 − z) although h = tanh", family=4,
                 claim="a", to="z * (1 - z) * ((y - T) @ W2)", names=TANH_AS_SIG),
            dict(slip="Σₖ wₖⱼ δₖ written with W2ᵀ (the indices of wₖⱼ swapped)", family=2, claim="a",
                 to="(1 - z^2) * ((y - T) @ transpose(W2))", names=TRANSPOSED),
            dict(slip="the 2 of d(x²)/dx kept although E has a ½", family=9, claim="W2",
                 to="2 * transpose(y - T) @ z", names=DOUBLE),
            dict(slip="∂E/∂W2 given where ∂E/∂W1 is asked (both 3 × 3)", family=11, claim="W1",
                 to="transpose(y - T) @ z", names=other("W2")),
        ],
    )


def goodfellow_mlp():
    r = R(404)
    X, W1, b1, W2, b2, T = r.n(4, 3), r.n(3, 4), r.n(4), r.n(4, 2), r.n(2), r.n(4, 2)
    g = "g = 2 * (yhat - T) / 8; "
    ga = "ga = (g @ transpose(W2)) * (1 - h1^2); "
    case(
        "goodfellow_mlp_weight_decay",
        "Goodfellow, Bengio & Courville, Deep Learning (2016) §6.5.4 Algorithm 6.4 (backward pass of a deep MLP "
        "for J = L(ŷ, y) + λΩ(θ): g ← g ⊙ f′(a⁽ᵏ⁾), ∇_{b⁽ᵏ⁾}J = g + λ∇Ω, ∇_{W⁽ᵏ⁾}J = g h⁽ᵏ⁻¹⁾ᵀ + λ∇_{W⁽ᵏ⁾}Ω) with "
        "the L2 penalty of §7.1.1 (α/2 wᵀw, gradient αw), tanh hidden units (§6.3.2) and the mean squared error "
        "(§6.2.1.1) over a batch of N = 4 rows and K = 2 outputs; row layout h = XW",
        "MLP 3-4-2, tanh, MSE over all N·K = 8 entries + α/2 (‖W1‖² + ‖W2‖²): g = 2(ŷ − T)/8, "
        "∂J/∂W2 = h1ᵀg + αW2, ∂J/∂W1 = Xᵀ((g W2ᵀ) ∘ (1 − h1²)) + αW1, ∂J/∂b1 = Σ_rows (g W2ᵀ) ∘ (1 − h1²)",
        "a1 = X @ W1 + b1; h1 = tanh(a1); yhat = h1 @ W2 + b2; mse_loss(yhat, T) + alpha / 2 * (sum(W1^2) + sum(W2^2))",
        {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, {"X": X, "T": T, "alpha": 0.1},
        {
            "W2": g + "transpose(h1) @ g + alpha * W2",
            "W1": g + ga + "transpose(X) @ ga + alpha * W1",
            "b1": g + ga + "sum(ga, axis=0)",
            "b2": "sum(2 * (yhat - T) / 8, axis=0)",
        },
        [
            dict(slip="the weight-decay term αW1 forgotten", family=1, claim="W1",
                 to=g + ga + "transpose(X) @ ga", names=REG_TERM),
            dict(slip="2αW2: the ½ of α/2 ‖W‖² ignored", family=9, claim="W2",
                 to=g + "transpose(h1) @ g + 2 * alpha * W2", names=REG_TERM),
            dict(slip="tanh′ = 1 − h1² forgotten deep in ∂J/∂W1 (only ∂J/∂W1 claimed)", family=10, claim="W1",
                 to=g + "ga = g @ transpose(W2); transpose(X) @ ga + alpha * W1", names=local("tanh")),
            dict(slip="∂J/∂b1 summed over the hidden units (axis 1) instead of the batch (axis 0); N = H = 4",
                 family=3, claim="b1", to=g + ga + "sum(ga, axis=1)", names=AXIS, indirect=TRANSPOSED),
        ],
    )


def ng_logistic():
    r = R(505)
    X = np.hstack([np.ones((6, 1)), r.n(6, 3)])
    theta = r.n(4, 1)
    y = np.array([[1.0], [0.0], [0.0], [1.0], [1.0], [0.0]])
    Rm = np.array([[0.0], [1.0], [1.0], [1.0]])
    case(
        "ng_regularized_logistic_regression",
        "Andrew Ng, Machine Learning (Coursera), lecture 7 'Regularized logistic regression' and ex2 "
        "costFunctionReg.m: J(θ) = −(1/m) Σ [y log h + (1 − y) log(1 − h)] + λ/(2m) Σ_{j≥1} θⱼ², "
        "∂J/∂θ₀ = (1/m) Σ (h − y)x₀, ∂J/∂θⱼ = (1/m) Σ (h − y)xⱼ + (λ/m)θⱼ for j ≥ 1; m = 6, x₀ = 1",
        "regularised logistic regression: ∇J = Xᵀ(h − y)/m + (λ/m)[0; θ₁; θ₂; θ₃]  (m = 6, 3 features + intercept)",
        "h = sigmoid(X @ theta); -mean(y * log(h) + (1 - y) * log(1 - h)) + lam / (2 * 6) * sum(R * theta^2)",
        {"theta": theta}, {"X": X, "y": y, "lam": 0.8, "R": Rm},
        {"theta": "transpose(X) @ (h - y) / 6 + lam / 6 * R * theta"},
        [
            dict(slip="the regularisation term (λ/m)θ forgotten", family=1, claim="theta",
                 to="transpose(X) @ (h - y) / 6", names=REG_TERM),
            dict(slip="θ₀ regularised too: (λ/m)θ added to the intercept's gradient", family=1, claim="theta",
                 to="transpose(X) @ (h - y) / 6 + lam / 6 * theta",
                 names=r"θ0|θ₀|theta0|theta_0|intercept|bias|first (entry|element|component)|" + REG,
                 indirect=r"\bR\b|mask"),
            dict(slip="λ/(2m)θ: the ½ of the penalty kept in its gradient", family=9, claim="theta",
                 to="transpose(X) @ (h - y) / 6 + lam / 12 * R * theta", names=REG_TERM),
            dict(slip="the gradient of the log-likelihood (ascent direction): the sign of the whole gradient flipped",
                 family=11, claim="theta", to="-(transpose(X) @ (h - y) / 6 + lam / 6 * R * theta)", names=SIGN),
        ],
        expressible="workaround",
        workaround="Σ_{j≥1} θⱼ² and [0; θ₁; …] written with a constant 0/1 column R that leaves the intercept out",
        missing=["indexing/slicing"],
        direct={"expr": "h = sigmoid(X @ theta); -mean(y * log(h) + (1 - y) * log(1 - h)) "
                        "+ lam / (2 * 6) * sum(theta[1:]^2)",
                "claims": {"theta": "transpose(X) @ (h - y) / 6 + lam / 6 * concat([zeros(1, 1), theta[1:]])"}},
    )


def cs229_normal_equations():
    r = R(606)
    X, y = r.n(7, 3), r.n(7, 1)
    star = np.linalg.solve(X.T @ X, X.T @ y)
    theta = star + 2e-8 * np.random.default_rng(607).standard_normal((3, 1))
    g = X.T @ (X @ theta - y)
    assert 1e-7 <= np.max(np.abs(g)) <= 5e-7, np.max(np.abs(g))
    case(
        "cs229_normal_equations_tiny",
        "Andrew Ng, CS229 Lecture Notes, part I §2 'The normal equations': J(θ) = ½ (Xθ − y)ᵀ(Xθ − y), "
        "∇θJ = XᵀXθ − Xᵀy, which vanishes at θ = (XᵀX)⁻¹Xᵀy; θ here is that solution moved by ~2e-8, as a "
        "converged iterative solver leaves it, so every entry of ∇θJ is below 5e-7",
        "least squares near its minimum: ∇θ ½‖Xθ − y‖² = XᵀXθ − Xᵀy  (|∇| ~ 1e-7; m = 7, n = 3), ∂J/∂r = r",
        "r = X @ theta - y; 0.5 * sum(r^2)",
        {"theta": theta}, {"X": X, "y": y},
        {"theta": "transpose(X) @ X @ theta - transpose(X) @ y", "r": "r"},
        [
            dict(slip="the −Xᵀy term forgotten", family=1, claim="theta", to="transpose(X) @ X @ theta",
                 names=r"term|Xᵀy|X\^T y|transpose\(X\) @ y|target"),
            dict(slip="½XᵀX θ − ½Xᵀy: the ½ of J kept (half the tiny true gradient)", family=9, claim="theta",
                 to="0.5 * (transpose(X) @ X @ theta - transpose(X) @ y)", names=HALF),
            dict(slip="Xᵀy − XᵀXθ: the sign flipped (tiny gradient)", family=11, claim="theta",
                 to="transpose(X) @ y - transpose(X) @ X @ theta", names=SIGN),
            dict(slip="∇J = 0 claimed because θ came out of the normal equations", family=9, claim="theta",
                 to=np.zeros((3, 1)), names=r"zero|vanish|0 times"),
        ],
        tiny=True,
    )


def karpathy_sigmoid():
    r = R(707)
    X, W, dz = r.n(5, 3), r.n(3, 3), r.n(5, 3)
    case(
        "karpathy_sigmoid_layer_upstream",
        "Andrej Karpathy, 'Yes you should understand backprop' (Medium, 2016), the sigmoid snippet "
        "z = 1/(1 + np.exp(-np.dot(W, x))); dx = np.dot(W.T, z*(1-z)); dW = np.outer(z*(1-z), x) — the local "
        "gradients; chained here with an upstream gradient dz for a batch of 5 rows (z = σ(X Wᵀ))",
        "sigmoid layer with upstream dz: ds = dz ∘ z ∘ (1 − z), dX = ds W, dW = dsᵀ X  (N = 5, 3 → 3)",
        "s = X @ transpose(W); z = sigmoid(s)",
        {"X": X, "W": W}, {"dz": dz},
        {"s": "dz * z * (1 - z)", "X": "(dz * z * (1 - z)) @ W", "W": "transpose(dz * z * (1 - z)) @ X"},
        [
            dict(slip="the blog's local gradient alone: dz forgotten in dX", family=8, claim="X",
                 to="(z * (1 - z)) @ W", names=UPSTREAM + r"|\bdz\b"),
            dict(slip="σ′ evaluated at the pre-activation s: s(1 − s)", family=4, claim="s",
                 to="dz * s * (1 - s)", names=SIG_POINT),
            dict(slip="dX = ds Wᵀ: the transpose of the forward's Wᵀ applied again", family=2, claim="X",
                 to="(dz * z * (1 - z)) @ transpose(W)", names=TRANSPOSED),
        ],
        seed=dz,
    )


def micrograd():
    r = R(808)
    a, b, y = r.n(6), r.n(6), r.n(6)
    G = "2 * (e - y) / 6"
    case(
        "micrograd_reused_value",
        "Andrej Karpathy, micrograd (micrograd/engine.py: every _backward accumulates, self.grad += …, so a Value "
        "used twice collects the gradient of both uses; tanh's _backward is (1 − t²)·out.grad) and the lecture "
        "'The spelled-out intro to neural networks and backpropagation' (the bug of = instead of += when a node is "
        "used twice); a batch of 6 and a mean squared error",
        "e = tanh(a∘b + c) ∘ a, L = mean((e − y)²): ∂L/∂a = G∘f + G∘a∘(1 − f²)∘b with G = 2(e − y)/6, "
        "∂L/∂b = G∘a∘(1 − f²)∘a, ∂L/∂c = Σ G∘a∘(1 − f²)",
        "d = a * b + c; f = tanh(d); e = f * a; mean((e - y)^2)",
        {"a": a, "b": b, "c": 0.317}, {"y": y},
        {
            "a": f"{G} * f + {G} * a * (1 - f^2) * b",
            "b": f"{G} * a * (1 - f^2) * a",
            "c": f"sum({G} * a * (1 - f^2))",
            "d": f"{G} * a * (1 - f^2)",
        },
        [
            dict(slip="a used twice, its gradient assigned (=) instead of accumulated (+=): the path through d lost",
                 family=1, claim="a", to=f"{G} * f",
                 names=r"branch|path|term|accumul|used twice|both uses|\+="),
            dict(slip="tanh's local derivative 1 − f² forgotten", family=10, claim="b", to=f"{G} * a * a",
                 names=local("tanh")),
            dict(slip="the 2 of the square forgotten", family=9, claim="b", to="(e - y) / 6 * a * (1 - f^2) * a",
                 names=HALF),
            dict(slip="∂L/∂c left per example for the scalar bias c", family=3, claim="c",
                 to=f"{G} * a * (1 - f^2)", names=SCALAR, indirect="shape"),
        ],
    )


def resnet():
    r = R(909)
    x, W1, b1, W2, G = r.n(4, 4), r.n(4, 4, scale=0.6), r.n(4), r.n(4, 4, scale=0.6), r.n(4, 4)
    da = "(G @ transpose(W2)) * (1 - h^2)"
    case(
        "he_resnet_identity_shortcut",
        "He, Zhang, Ren & Sun, 'Identity Mappings in Deep Residual Networks' (ECCV 2016) eq. (5): "
        "∂E/∂x_l = ∂E/∂x_L (1 + ∂/∂x_l Σᵢ F(xᵢ, Wᵢ)) — the identity shortcut carries the upstream gradient "
        "unchanged; here one block y = x + F(x), F(x) = tanh(x W1 + b1) W2, batch of 4, upstream gradient G",
        "residual block: ∂/∂x = G + ((G W2ᵀ) ∘ (1 − h²)) W1ᵀ, ∂/∂W1 = xᵀ((G W2ᵀ) ∘ (1 − h²)), ∂/∂b1 = Σ_rows",
        "a = x @ W1 + b1; h = tanh(a); x + h @ W2",
        {"x": x, "W1": W1, "b1": b1, "W2": W2}, {"G": G},
        {
            "x": f"G + ({da}) @ transpose(W1)",
            "W1": f"transpose(x) @ ({da})",
            "b1": f"sum({da}, axis=0)",
        },
        [
            dict(slip="the shortcut's G forgotten: only the residual branch differentiated", family=1, claim="x",
                 to=f"({da}) @ transpose(W1)",
                 names=r"skip|shortcut|identity|residual|branch|path|term"),
            dict(slip="G W2 where G W2ᵀ belongs (W2 4 × 4)", family=2, claim="x",
                 to="G + ((G @ W2) * (1 - h^2)) @ transpose(W1)", names=TRANSPOSED),
            dict(slip="∂/∂b1 summed over axis 1 instead of the batch axis 0 (N = D = 4)", family=3, claim="b1",
                 to=f"sum({da}, axis=1)", names=AXIS, indirect=TRANSPOSED),
        ],
        seed=G,
    )


def lstm():
    r = R(1010)
    hx = r.n(3, 5)
    Wf, Wi, Wc, Wo = (r.n(5, 3, scale=0.7) for _ in range(4))
    c_prev, dh = r.n(3, 3), r.n(3, 3)
    dc = "dh * o * (1 - tanh(c)^2)"
    case(
        "colah_lstm_cell_backward",
        "Christopher Olah, 'Understanding LSTM Networks' (colah.github.io, 2015): f = σ(W_f·[h_{t−1}, x_t] + b_f), "
        "i = σ(W_i·[…]), C̃ = tanh(W_C·[…]), C_t = f ∗ C_{t−1} + i ∗ C̃, o = σ(W_o·[…]), h_t = o ∗ tanh(C_t); the "
        "backward pass of one cell by the chain rule through these equations (as in Graves, 'Supervised Sequence "
        "Labelling with Recurrent Neural Networks', 2012, §4.6), biases left out, [h_{t−1}, x_t] given as one "
        "constant hx (3 sequences × (3 + 2)), upstream dh",
        "LSTM cell: dC = dh∘o∘(1 − tanh²C), dz_o = dh∘tanh C∘o(1 − o), dz_C = dC∘i∘(1 − C̃²), "
        "dz_f = dC∘C_{t−1}∘f(1 − f), dC_{t−1} = dC∘f, dW_f = hxᵀ dz_f, dW_i = hxᵀ (dC∘C̃∘i(1 − i))",
        "zf = hx @ Wf; zi = hx @ Wi; zc = hx @ Wc; zo = hx @ Wo; f = sigmoid(zf); i = sigmoid(zi); "
        "g = tanh(zc); o = sigmoid(zo); c = f * c_prev + i * g; o * tanh(c)",
        {"Wf": Wf, "Wi": Wi, "Wc": Wc, "Wo": Wo, "c_prev": c_prev}, {"hx": hx, "dh": dh},
        {
            "c": dc,
            "zo": "dh * tanh(c) * o * (1 - o)",
            "zc": f"{dc} * i * (1 - g^2)",
            "zf": f"{dc} * c_prev * f * (1 - f)",
            "c_prev": f"{dc} * f",
            "Wf": f"transpose(hx) @ ({dc} * c_prev * f * (1 - f))",
            "Wi": f"transpose(hx) @ ({dc} * g * i * (1 - i))",
        },
        [
            dict(slip="the candidate C̃ = tanh(·) differentiated as a sigmoid: C̃(1 − C̃)", family=4, claim="zc",
                 to=f"{dc} * i * g * (1 - g)", names=TANH_AS_SIG),
            dict(slip="the output gate's σ′ taken at its input z_o", family=4, claim="zo",
                 to="dh * tanh(c) * zo * (1 - zo)", names=SIG_POINT),
            dict(slip="the forget gate's σ′ written (1 − f) alone", family=4, claim="zf",
                 to=f"{dc} * c_prev * (1 - f)", names=r"sigmoid|σ′|σ'|\bf\b|forget gate"),
            dict(slip="tanh′(C_t) forgotten: dC = dh∘o", family=10, claim="c", to="dh * o", names=local("tanh")),
            dict(slip="the input gate's weight gradient given for the forget gate's (both 5 × 3)", family=11,
                 claim="Wf", to=f"transpose(hx) @ ({dc} * g * i * (1 - i))",
                 names=other("Wi") + r"|input gate"),
        ],
        seed=dh,
    )


def batchnorm():
    r = R(1111)
    x, gamma, beta, dout = r.n(5, 5, scale=1.5), r.u(5, lo=0.5, hi=1.5), r.n(5), r.n(5, 5)
    dx = "dxh = dout * gamma; ivar / 5 * (5 * dxh - sum(dxh, axis=0, keepdim=true) - xhat * sum(dxh * xhat, axis=0, keepdim=true))"
    case(
        "kratzert_batchnorm_backward",
        "Frederik Kratzert, 'Understanding the backward pass through Batch Normalization Layer' (kratzert.github.io, "
        "2016), the staged graph μ = mean(x), xμ = x − μ, var = mean(xμ²), ivar = 1/√(var + ε), x̂ = xμ·ivar, "
        "out = γx̂ + β, and its compact result dβ = Σ dout, dγ = Σ dout·x̂, "
        "dx = (1/N)·ivar·(N dx̂ − Σ dx̂ − x̂ Σ dx̂·x̂) with dx̂ = dout·γ; N = D = 5",
        "batch normalisation backward (N = 5, D = 5, ε = 1e-5), upstream dout",
        "mu = mean(x, axis=0, keepdim=true); xmu = x - mu; var = mean(xmu^2, axis=0, keepdim=true); "
        "ivar = (var + eps)^-0.5; xhat = xmu * ivar; gamma * xhat + beta",
        {"x": x, "gamma": gamma, "beta": beta}, {"dout": dout, "eps": 1e-5},
        {"beta": "sum(dout, axis=0)", "gamma": "sum(dout * xhat, axis=0)", "x": dx},
        [
            dict(slip="dβ summed over the features (axis 1) instead of the batch (axis 0)", family=3, claim="beta",
                 to="sum(dout, axis=1)", names=AXIS),
            dict(slip="the path through the variance forgotten (var treated as a constant)", family=1, claim="x",
                 to="dxh = dout * gamma; ivar / 5 * (5 * dxh - sum(dxh, axis=0, keepdim=true))",
                 names=r"variance|\bi?var\b|σ²|sigma"),
            dict(slip="the path through the mean forgotten (μ treated as a constant)", family=1, claim="x",
                 to="dxh = dout * gamma; ivar / 5 * (5 * dxh - xhat * sum(dxh * xhat, axis=0, keepdim=true))",
                 names=r"\bmean\b|μ|\bmu\b"),
            dict(slip="the 1/N in front forgotten", family=9, claim="x",
                 to=dx.replace("ivar / 5 *", "ivar *"), names=times(5)),
            dict(slip="dβ given for dγ", family=11, claim="gamma", to="sum(dout, axis=0)",
                 names=other("beta") + r"|β|x̂|xhat"),
        ],
        seed=dout,
    )


def conv_kafunah():
    r = R(1212)
    x, W, b, dout = r.n(3, 2, 5, 5), r.n(2, 2, 3, 3), r.n(2), r.n(3, 2, 3, 3)
    case(
        "kafunah_conv_layer_backward",
        "Jefkine Kafunah, 'Backpropagation In Convolutional Neural Networks' (jefkine.com, 2016): for a "
        "cross-correlation layer the weight gradient is the input cross-correlated with the error map δ, and the "
        "input gradient is δ zero-padded and convolved with the kernel rotated by 180° (a full convolution with "
        "the flipped kernel); the bias gradient sums δ; here N = 3, C = O = 2, 5 × 5 inputs, 3 × 3 kernels",
        "conv2d backward: dx = full convolution of dout with W (in/out channels swapped), "
        "dW = x ⋆ dout summed over the batch, db = Σ_{n,i,j} dout",
        "conv2d(x, W, bias=b)",
        {"x": x, "W": W, "b": b}, {"dout": dout},
        {
            "x": "convolve2d(dout, transpose(W, 0, 1), padding=2)",
            "W": "transpose(conv2d(transpose(x, 0, 1), transpose(dout, 0, 1)), 0, 1)",
            "b": "sum(sum(sum(dout, axis=0), axis=1), axis=1)",
        },
        [
            dict(slip="dx as a full correlation: the kernel not rotated by 180°", family=6, claim="x",
                 to="conv2d(dout, transpose(W, 0, 1), padding=2)", names=FLIP),
            dict(slip="dW left as [C, O, kH, kW]: the in/out channel axes swapped (C = O = 2)", family=2, claim="W",
                 to="conv2d(transpose(x, 0, 1), transpose(dout, 0, 1))", names=CHANNELS),
            dict(slip="dx with W's in/out channel axes not swapped (C = O = 2)", family=2, claim="x",
                 to="convolve2d(dout, W, padding=2)", names=CHANNELS),
            dict(slip="db not summed over the columns of the error map", family=3, claim="b",
                 to="sum(sum(dout, axis=0), axis=1)", names=SCALAR + r"|spatial|width|axis", indirect="shape"),
        ],
        seed=dout,
    )


def goodfellow_true_conv():
    r = R(1313)
    x, K, G = r.n(4, 1, 6, 6), r.n(2, 1, 3, 3), r.n(4, 2, 4, 4)
    case(
        "goodfellow_true_convolution_backward",
        "Goodfellow, Bengio & Courville, Deep Learning (2016) §9.1: the convolution S(i, j) = Σₘ Σₙ I(m, n) "
        "K(i − m, j − n) flips the kernel, the cross-correlation of eq. (9.6) does not; for a layer that computes "
        "a true (flipped, 'valid') convolution the roles swap against the usual CNN formulas (§9.5): ∂L/∂I is "
        "the cross-correlation of the zero-padded G with K, ∂L/∂K is the flipped cross-correlation of I with G; "
        "a batch of 4 single-channel 6 × 6 images, 2 kernels",
        "true-convolution layer backward: dI = G ⋆ K (correlation, padding 2, channels swapped), "
        "dK = rot180(I ⋆ G) summed over the batch",
        "convolve2d(x, K)",
        {"x": x, "K": K}, {"G": G},
        {
            "x": "conv2d(G, transpose(K, 0, 1), padding=2)",
            "K": "transpose(flip(flip(conv2d(transpose(x, 0, 1), transpose(G, 0, 1)), 2), 3), 0, 1)",
        },
        [
            dict(slip="dI with the kernel flipped (the correlation layer's rule applied to a convolution)", family=6,
                 claim="x", to="convolve2d(G, transpose(K, 0, 1), padding=2)", names=FLIP),
            dict(slip="dK not rotated by 180° (the correlation layer's rule)", family=6, claim="K",
                 to="transpose(conv2d(transpose(x, 0, 1), transpose(G, 0, 1)), 0, 1)", names=FLIP),
        ],
        seed=G,
    )


def upsample_expr(name, nc, n, c, hw, k):
    return (f"up = reshape(transpose(transpose(reshape({name}, {nc}, {hw // k}, {hw // k}) @ E) @ E), "
            f"{n}, {c}, {hw}, {hw}); ")


def distinct_windows(r, shape, k):
    while True:
        x = r.n(*shape)
        ok = True
        n, c, h, w = shape
        M = np.zeros(shape)
        for i in range(0, h, k):
            for j in range(0, w, k):
                win = x[:, :, i:i + k, j:j + k].reshape(n, c, -1)
                s = np.sort(win, axis=2)
                if np.min(s[:, :, -1] - s[:, :, -2]) < 0.05:
                    ok = False
                am = np.argmax(win, axis=2)
                for a in range(n):
                    for b in range(c):
                        M[a, b, i + am[a, b] // k, j + am[a, b] % k] = 1.0
        if ok:
            return x, M


def ufldl_maxpool():
    r = R(1414)
    x, M = distinct_windows(r, (3, 2, 4, 4), 2)
    dout = r.n(3, 2, 2, 2)
    E = np.kron(np.eye(2), np.ones((1, 2)))
    up = upsample_expr("dout", 6, 3, 2, 4, 2)
    case(
        "ufldl_max_pooling_backward",
        "Stanford UFLDL Tutorial (Ng, Ngiam, Foo, Mai, Suen), 'Convolutional Neural Network', backpropagation "
        "through the pooling layer: with max pooling the unit that was the window's maximum receives all the "
        "error; with mean pooling the error is spread uniformly over the window (upsample δ, divide by its size); "
        "2 × 2 windows, stride 2, N = 3, C = 2",
        "2 × 2 max pooling backward: dx = upsample(dout) at each window's argmax, 0 elsewhere",
        "max_pool2d(x, 2, stride=2)",
        {"x": x}, {"dout": dout, "E": E, "M": M},
        {"x": up + "up * M"},
        [
            dict(slip="mean pooling's rule: dout/4 spread over the window", family=7, claim="x", to=up + "up / 4",
                 names=r"average|avg|mean|max"),
            dict(slip="the argmax mask alone: dout forgotten", family=8, claim="x", to="M", names=UPSTREAM),
        ],
        seed=dout,
        expressible="workaround",
        workaround="the argmax indicator is a constant mask M; the upsampling of dout to the 4 × 4 grid is written "
                   "as products with E = I₂ ⊗ [1 1] on a [6, 2, 2] reshape",
        missing=["comparison/where", "upsample/repeat (4-D)"],
        direct={"claims": {"x": "upsample(dout, 2) * (x == upsample(max_pool2d(x, 2, stride=2), 2))"}},
    )


def caffe_avgpool():
    r = R(1515)
    x, M = distinct_windows(r, (4, 1, 6, 6), 3)
    dout = r.n(4, 1, 2, 2)
    E = np.kron(np.eye(2), np.ones((1, 3)))
    up = upsample_expr("dout", 4, 4, 1, 6, 3)
    case(
        "caffe_average_pooling_backward",
        "Caffe, src/caffe/layers/pooling_layer.cpp, PoolingLayer<Dtype>::Backward_cpu: for "
        "PoolingParameter_PoolMethod_AVE each bottom_diff in a window gets top_diff / pool_size; for MAX the "
        "top_diff goes only to the position stored in the argmax mask; 3 × 3 windows, stride 3, N = 4, C = 1",
        "3 × 3 average pooling backward: dx = upsample(dout) / 9",
        "avg_pool2d(x, 3, stride=3)",
        {"x": x}, {"dout": dout, "E": E, "M": M},
        {"x": up + "up / 9"},
        [
            dict(slip="max pooling's rule: dout routed to each window's argmax", family=7, claim="x",
                 to=up + "up * M", names=r"max|argmax|average|avg|mean"),
            dict(slip="the 1/pool_size forgotten: dout copied to the 9 positions", family=9, claim="x", to=up + "up",
                 names=r"\b9 times|1/9|pool[ _]size|window|kernel size|mean|average"),
        ],
        seed=dout,
        expressible="workaround",
        workaround="the upsampling of dout to the 6 × 6 grid is written as products with E = I₂ ⊗ [1 1 1] on a "
                   "[4, 2, 2] reshape; M (the argmax mask) is for the max-pooling slip only",
        missing=["upsample/repeat (4-D)"],
        direct={"claims": {"x": "upsample(dout, 3) / 9"}},
    )


def flash_attention():
    r = R(1616)
    Q, K, V, dO = r.n(4, 3), r.n(4, 3), r.n(4, 3), r.n(4, 3)
    dS = "dP = dO @ transpose(V); dS = P * (dP - sum(dO * O, axis=1, keepdim=true)); "
    case(
        "flashattention_standard_backward",
        "Dao, Fu, Ermon, Rudra & Ré, 'FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness' "
        "(NeurIPS 2022), Appendix B.2, the standard attention backward pass: S = τQKᵀ, P = softmax(S) (row-wise), "
        "O = PV; dV = Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP − D) with Dᵢ = rowsum(dO ∘ O), dQ = τ dS K, dK = τ dSᵀ Q; "
        "4 queries, 4 keys, d = 3, τ = 1/√d",
        "attention backward: dS = P ∘ (dP − rowsum(dO ∘ O)), dV = Pᵀ dO, dQ = τ dS K, dK = τ dSᵀ Q",
        "S = tau * (Q @ transpose(K)); P = softmax(S, axis=1); O = P @ V",
        {"Q": Q, "K": K, "V": V}, {"dO": dO, "tau": 1 / np.sqrt(3.0)},
        {
            "S": dS + "dS",
            "V": "transpose(P) @ dO",
            "Q": dS + "tau * dS @ K",
            "K": dS + "tau * transpose(dS) @ Q",
        },
        [
            dict(slip="the softmax differentiated elementwise: dS = P ∘ (1 − P) ∘ dP", family=5, claim="S",
                 to="dP = dO @ transpose(V); P * (1 - P) * dP", names=SOFTMAX),
            dict(slip="dV = P dO: Pᵀ written P (4 × 4)", family=2, claim="V", to="P @ dO", names=TRANSPOSED),
            dict(slip="the row sum D taken down the columns (axis 0)", family=3, claim="S",
                 to="dP = dO @ transpose(V); P * (dP - sum(dP * P, axis=0, keepdim=true))",
                 names=AXIS + r"|row ?sum"),
            dict(slip="the scale τ = 1/√d forgotten in dQ", family=9, claim="Q", to=dS + "dS @ K",
                 names=r"τ|tau|scale|sqrt|√|1\.73|temperature"),
            dict(slip="dQ's formula τ dS K given for dK (both 4 × 3)", family=11, claim="K", to=dS + "tau * dS @ K",
                 names=other("Q") + r"|quer|dQ"),
        ],
        seed=dO,
    )


def cs224n_word2vec():
    r = R(1717)
    Vc, U = r.n(5, 3), r.n(5, 3)
    o = np.array([2, 0, 4, 1, 3])
    Y = onehot(o, 5)
    p = "softmax(scores, axis=1)"
    case(
        "cs224n_word2vec_naive_softmax",
        "Stanford CS224n (Manning), assignment 2 written part, word2vec's naive-softmax loss "
        "J = −log P(O = o | C = c) = −log ŷ_o with ŷ = softmax(Uᵀv_c): ∂J/∂v_c = U(ŷ − y), ∂J/∂u_w = (ŷ_w − y_w) v_c; "
        "a batch of 5 (center, outside) pairs summed as skip-gram sums a window; vectors as rows (Vc: 5 center "
        "vectors, U: a vocabulary of 5 outside vectors, d = 3)",
        "naive-softmax word2vec, summed over 5 pairs: ∂J/∂scores = ŷ − y, ∂J/∂Vc = (ŷ − y) U, ∂J/∂U = (ŷ − y)ᵀ Vc",
        "scores = Vc @ transpose(U); 5 * cross_entropy(scores, o)",
        {"Vc": Vc, "U": U}, {"o": o.astype(float), "Y": Y},
        {"scores": f"{p} - Y", "Vc": f"({p} - Y) @ U", "U": f"transpose({p} - Y) @ Vc"},
        [
            dict(slip="−y/ŷ chained through an elementwise softmax derivative ŷ(1 − ŷ): −(1 − ŷ_o) at o, 0 elsewhere",
                 family=5, claim="Vc", to=f"(-(1 - {p}) * Y) @ U",
                 names=SOFTMAX + r"|other (words|classes)"),
            dict(slip="∂J/∂U given for ∂J/∂v_c (both 5 × 3)", family=11, claim="Vc", to=f"transpose({p} - Y) @ Vc",
                 names=other("U") + r"|outside"),
            dict(slip="(ŷ − y)ᵀ U: the transpose of the U-gradient's pattern (5 × 5 scores)", family=2, claim="Vc",
                 to=f"transpose({p} - Y) @ U", names=TRANSPOSED),
        ],
        expressible="workaround",
        workaround="y (one-hot of the outside words o) given as a constant Y in the claims",
        missing=["indexing/gather"],
        direct={"claims": {"scores": "softmax(scores, axis=1) - one_hot(o, 5)",
                           "Vc": "(softmax(scores, axis=1) - one_hot(o, 5)) @ U",
                           "U": "transpose(softmax(scores, axis=1) - one_hot(o, 5)) @ Vc"}},
    )


def parr_howard():
    r = R(1818)
    while True:
        X, w, y = r.n(7, 3), r.n(3, 1), r.n(7, 1)
        z = X @ w + 0.214
        if np.min(np.abs(z)) > 0.05 and 2 <= np.sum(z > 0) <= 5:
            break
    m = (z > 0).astype(float)
    case(
        "parr_howard_relu_neuron_loss",
        "Terence Parr & Jeremy Howard, 'The Matrix Calculus You Need For Deep Learning' (2018), 'The gradient of "
        "the neural network loss function': C(w, b) = (1/N) Σᵢ (yᵢ − max(0, w·xᵢ + b))², "
        "∂C/∂w = (2/N) Σ_{w·xᵢ+b>0} (w·xᵢ + b − yᵢ) xᵢᵀ and ∂C/∂b = (2/N) Σ_{w·xᵢ+b>0} (w·xᵢ + b − yᵢ); N = 7",
        "one ReLU neuron, mean squared error: ∂C/∂w = (2/N) Xᵀ((z − y) ∘ 1[z > 0]), ∂C/∂b = 2 mean((z − y) ∘ 1[z > 0])",
        "z = X @ w + b; a = relu(z); mean((y - a)^2)",
        {"w": w, "b": 0.214}, {"X": X, "y": y, "m": m},
        {"w": "2 / 7 * transpose(X) @ ((z - y) * m)", "b": "2 * mean((z - y) * m)"},
        [
            dict(slip="∂C/∂b left per example (N × 1) for the scalar b", family=3, claim="b",
                 to="2 / 7 * (z - y) * m", names=SCALAR, indirect="shape"),
            dict(slip="the 2 of the square forgotten", family=9, claim="w", to="1 / 7 * transpose(X) @ ((z - y) * m)",
                 names=HALF),
            dict(slip="the max(0, ·) derivative forgotten: inactive examples included", family=10, claim="w",
                 to="2 / 7 * transpose(X) @ (z - y)", names=local(r"relu|mask|max\(0|active")),
            dict(slip="(y − z) for (z − y): the sign of the residual", family=11, claim="w",
                 to="2 / 7 * transpose(X) @ ((y - z) * m)", names=SIGN),
        ],
        expressible="workaround",
        workaround="the indicator 1[w·x + b > 0] given as a constant mask m",
        missing=["comparison/where"],
        direct={"claims": {"w": "2 / 7 * transpose(X) @ ((z - y) * (z > 0))", "b": "2 * mean((z - y) * (z > 0))"}},
    )


def kolter_quadratic():
    r = R(1919)
    X, A = r.n(4, 3), r.n(3, 3)
    case(
        "kolter_quadratic_form_batch",
        "Zico Kolter (updated by Chuong Do), 'Linear Algebra Review and Reference' (CS229 section notes) §4.3 "
        "'Gradients of the quadratic function': ∇ₓ xᵀAx = 2Ax for a symmetric A, derived from "
        "∂/∂x_k Σᵢⱼ Aᵢⱼxᵢxⱼ = Σᵢ Aᵢₖxᵢ + Σⱼ Aₖⱼxⱼ, i.e. (A + Aᵀ)x in general; here Σₙ xₙᵀAxₙ over 4 rows xₙ with "
        "a non-symmetric A",
        "batch of quadratic forms: ∂/∂X Σₙ xₙᵀAxₙ = X(A + Aᵀ), ∂/∂A = XᵀX  (N = 4, n = 3)",
        "sum((X @ A) * X)",
        {"X": X, "A": A}, {},
        {"X": "X @ (A + transpose(A))", "A": "transpose(X) @ X"},
        [
            dict(slip="Ax only (row form X Aᵀ): the other term of the product rule forgotten", family=1, claim="X",
                 to="X @ transpose(A)", names=r"term|symmetr|both|product rule|Aᵀ|A\^T|transpose\(A\)"),
            dict(slip="2Ax (row form 2 X Aᵀ): A taken as symmetric", family=1, claim="X", to="2 * X @ transpose(A)",
                 names=r"symmetr|term|Aᵀ|A\^T|transpose\(A\)"),
        ],
    )


def min_char_rnn():
    r = R(2020)
    t_in1, t_in2, t_out1, t_out2 = [np.array(v) for v in ([0, 2, 1, 3], [1, 3, 3, 0], [2, 1, 0, 0], [3, 0, 2, 1])]
    x1, x2 = onehot(t_in1, 4).T, onehot(t_in2, 4).T
    Y1, Y2 = onehot(t_out1, 4).T, onehot(t_out2, 4).T
    h0 = np.round(np.tanh(r.n(3, 4)), 3)
    Wxh, Whh, Why, bh, by = r.n(3, 4, scale=0.5), r.n(3, 3, scale=0.5), r.n(4, 3, scale=0.5), r.n(3, 1, scale=0.1), r.n(4, 1, scale=0.1)
    pre = ("dy2 = softmax(y2, axis=0) - Y2; dy1 = softmax(y1, axis=0) - Y1; "
           "dhraw2 = (1 - h2^2) * (transpose(Why) @ dy2); ")
    dh1 = "dh1 = transpose(Why) @ dy1 + transpose(Whh) @ dhraw2; "
    case(
        "karpathy_min_char_rnn_bptt",
        "Andrej Karpathy, min-char-rnn.py (GitHub gist, 2015), lossFun's backward pass: dy = p − onehot(target); "
        "dh = Whyᵀ dy + dhnext; dhraw = (1 − h²) ∘ dh; dWxh += dhraw xᵀ; dWhh += dhraw h_{t−1}ᵀ; "
        "dhnext = Whhᵀ dhraw — two time steps, a batch of 4 sequences as columns, a non-zero hprev",
        "two-step vanilla RNN (vocabulary 4, hidden 3): ∂L/∂h1 = Whyᵀdy1 + Whhᵀ dhraw2, "
        "∂L/∂Whh = dhraw2 h1ᵀ + dhraw1 h0ᵀ, ∂L/∂Why = dy1 h1ᵀ + dy2 h2ᵀ",
        "h1 = tanh(Wxh @ x1 + Whh @ h0 + bh); y1 = Why @ h1 + by; h2 = tanh(Wxh @ x2 + Whh @ h1 + bh); "
        "y2 = Why @ h2 + by; -sum(Y1 * log_softmax(y1, axis=0)) - sum(Y2 * log_softmax(y2, axis=0))",
        {"Wxh": Wxh, "Whh": Whh, "Why": Why, "bh": bh, "by": by},
        {"x1": x1, "x2": x2, "h0": h0, "Y1": Y1, "Y2": Y2},
        {
            "h1": pre + "transpose(Why) @ dy1 + transpose(Whh) @ dhraw2",
            "Whh": pre + dh1 + "dhraw1 = (1 - h1^2) * dh1; dhraw2 @ transpose(h1) + dhraw1 @ transpose(h0)",
            "Why": "dy2 = softmax(y2, axis=0) - Y2; dy1 = softmax(y1, axis=0) - Y1; "
                   "dy1 @ transpose(h1) + dy2 @ transpose(h2)",
        },
        [
            dict(slip="dhnext forgotten: ∂L/∂h1 = Whyᵀdy1 only (the gradient from step 2 lost)", family=1, claim="h1",
                 to=pre + "transpose(Why) @ dy1",
                 names=r"next|later|time step|recurren|\bh2\b|branch|path|term"),
            dict(slip="dWhh assigned, not accumulated: only the last step's dhraw2 h1ᵀ", family=1, claim="Whh",
                 to=pre + "dhraw2 @ transpose(h1)",
                 names=r"time step|first step|step 1|\bh0\b|accumul|sum over (time|steps)|term|branch|path"),
            dict(slip="dhnext = Whh dhraw: Whhᵀ written Whh", family=2, claim="h1",
                 to=pre + "transpose(Why) @ dy1 + Whh @ dhraw2", names=TRANSPOSED),
            dict(slip="tanh′ of step 1 forgotten deep in dWhh (only dWhh claimed)", family=10, claim="Whh",
                 to=pre + dh1 + "dhraw2 @ transpose(h1) + dh1 @ transpose(h0)", names=local("tanh")),
        ],
    )


def johnson_two_layer():
    r = R(2121)
    while True:
        x, w1, w2, y = r.n(6, 4), r.n(4, 3), r.n(3, 3), r.n(6, 3)
        h = x @ w1
        if np.min(np.abs(h)) > 0.05 and 0.3 < np.mean(h > 0) < 0.7:
            break
    m = (h > 0).astype(float)
    gy = "2 * (y_pred - y)"
    case(
        "johnson_numpy_two_layer_net",
        "Justin Johnson, 'Learning PyTorch with Examples' (PyTorch tutorials), the warm-up NumPy network: "
        "loss = Σ (y_pred − y)², grad_y_pred = 2.0 * (y_pred − y), grad_w2 = h_relu.T.dot(grad_y_pred), "
        "grad_h_relu = grad_y_pred.dot(w2.T), grad_h[h < 0] = 0, grad_w1 = x.T.dot(grad_h); N = 6, 4 → 3 → 3",
        "two-layer ReLU net, summed squared error: ∂/∂w2 = h_reluᵀ 2(ŷ − y), ∂/∂h = (2(ŷ − y) w2ᵀ) ∘ 1[h > 0], "
        "∂/∂w1 = xᵀ ∂/∂h",
        "h = x @ w1; h_relu = relu(h); y_pred = h_relu @ w2; sum((y_pred - y)^2)",
        {"w1": w1, "w2": w2}, {"x": x, "y": y, "m": m},
        {
            "w2": f"transpose(h_relu) @ ({gy})",
            "h": f"({gy} @ transpose(w2)) * m",
            "w1": f"transpose(x) @ (({gy} @ transpose(w2)) * m)",
        },
        [
            dict(slip="grad_y_pred = y_pred − y: the 2.0 forgotten", family=9, claim="w2",
                 to="transpose(h_relu) @ (y_pred - y)", names=HALF),
            dict(slip="grad_h[h < 0] = 0 skipped (only grad_w1 claimed)", family=10, claim="w1",
                 to=f"transpose(x) @ ({gy} @ transpose(w2))", names=local(r"relu|mask|h < 0|negative")),
            dict(slip="grad_y_pred.T.dot(h_relu) for h_relu.T.dot(grad_y_pred) (3 × 3)", family=2, claim="w2",
                 to=f"transpose({gy}) @ h_relu", names=TRANSPOSED),
        ],
        expressible="workaround",
        workaround="the indicator 1[h > 0] given as a constant mask m",
        missing=["comparison/where"],
        direct={"claims": {"h": f"({gy} @ transpose(w2)) * (h > 0)",
                           "w1": f"transpose(x) @ (({gy} @ transpose(w2)) * (h > 0))"}},
    )


def murphy_softmax_shift():
    r = R(2222)
    x, W = r.n(5, 3), r.n(3, 4, scale=0.7)
    y = np.array([2, 0, 3, 1, 2])
    Y = onehot(y, 4)
    ce = "(softmax(z) - Y) / 5"
    case(
        "murphy_softmax_shift_invariance",
        "Kevin Murphy, Probabilistic Machine Learning: An Introduction (2022), §2.5.2: the softmax is unchanged "
        "when one constant is added to every logit, softmax(a + c·1) = softmax(a); so a bias c shared by all the "
        "logits of a softmax cross-entropy has the gradient (1/N) Σₙ Σₖ (pₙₖ − yₙₖ) = 0, each row's probabilities "
        "and one-hot target both summing to 1: zero by the cancellation of terms of ~0.1, which the engine's "
        "rounding leaves at ~1e-17",
        "L = (1/N) Σₙ −log softmax(xₙW + c)_{yₙ}: ∂L/∂z = (P − Y)/N, ∂L/∂W = xᵀ(P − Y)/N, "
        "∂L/∂c = Σ (P − Y)/N = 0  (N = 5, K = 4)",
        "z = x @ W + c; cross_entropy(z, y)",
        {"W": W, "c": np.array(0.37)}, {"x": x, "y": y.astype(float), "Y": Y},
        {"W": f"transpose(x) @ {ce}", "c": "sum(softmax(z) - Y) / 5", "z": ce},
        [
            dict(slip="∂L/∂c left as each logit's gradient (P − Y)/N, not summed over the batch and the classes",
                 family=3, claim="c", to=ce, names=SCALAR),
            dict(slip="the 1/N of the mean forgotten in ∂L/∂W", family=9, claim="W",
                 to="transpose(x) @ (softmax(z) - Y)", names=times(5)),
            dict(slip="Y − P: the sign of ∂L/∂z flipped", family=11, claim="z", to="(Y - softmax(z)) / 5",
                 names=SIGN),
            dict(slip="∂L/∂c as Σ P / N, the −y term forgotten (it is 1, not 0)", family=1, claim="c",
                 to="sum(softmax(z)) / 5", names=r"one-hot|target|−y|\by term", indirect=r"true gradient is zero"),
        ],
    )


CASES = [nielsen_bp, nielsen_vanishing, bishop_tanh, goodfellow_mlp, ng_logistic, cs229_normal_equations,
         karpathy_sigmoid, micrograd, resnet, lstm, batchnorm, conv_kafunah, goodfellow_true_conv, ufldl_maxpool,
         caffe_avgpool, flash_attention, cs224n_word2vec, parr_howard, kolter_quadratic, min_char_rnn,
         johnson_two_layer, murphy_softmax_shift]

if __name__ == "__main__":
    for make in CASES:
        make()
    print("\n".join(LOG))
    n_slips = sum(1 for line in LOG if "  slip " in line)
    print(f"{len(CASES)} formulas, {n_slips} slips")
