"""A NumPy float64 reading of gradlab's expression language (cli/parser.cpp and cli/evaluator.cpp), enough of it for
the held-out checker cases: make_cases.py evaluates each document's expr and every claim with
it, so that the numbers in the JSON files come from the very strings gradlab is given.

Grammar (as in cli/expr.hpp):
  program := { NAME '=' sum ';' } sum [';']
  sum     := product { ('+' | '-') product }
  product := unary { ('*' | '/' | '@') unary }
  unary   := '-' unary | power
  power   := primary [ '^' unary ]
  primary := NUMBER | NAME | NAME '(' args ')' | '(' sum ')' | '[' sum, ... ']'
"""
import re

import numpy as np

TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z_0-9]*)|(.))")


def tokenize(s):
    out, i = [], 0
    s = s.replace("∘", "*").replace("·", "@").replace("−", "-")
    while i < len(s):
        m = TOKEN.match(s, i)
        if m is None:  # trailing spaces
            break
        i = m.end()
        if m.group(1) is not None:
            out.append(("num", float(m.group(1))))
        elif m.group(2) is not None:
            out.append(("name", m.group(2)))
        elif m.group(3) is not None:
            c = m.group(3)
            if c not in "+-*/@^(),;=[]":
                raise SyntaxError(f"unexpected character {c!r} in {s!r}")
            out.append(("sym", c))
    out.append(("end", None))
    return out


class Parser:
    def __init__(self, text):
        self.t, self.p, self.text = tokenize(text), 0, text

    def peek(self, k=0):
        return self.t[min(self.p + k, len(self.t) - 1)]

    def take(self):
        tok = self.t[self.p]
        self.p += 1
        return tok

    def is_sym(self, tok, c):
        return tok[0] == "sym" and tok[1] == c

    def expect(self, c):
        tok = self.take()
        if not self.is_sym(tok, c):
            raise SyntaxError(f"expected {c!r}, found {tok} in {self.text!r}")

    def program(self):
        steps = []
        while True:
            if self.peek()[0] == "name" and self.is_sym(self.peek(1), "="):
                name = self.take()[1]
                self.take()
                steps.append((name, self.sum()))
                if self.peek()[0] == "end":
                    return steps, ("name", name)
                self.expect(";")
                if self.peek()[0] == "end":
                    return steps, ("name", name)
                continue
            value = self.sum()
            if self.is_sym(self.peek(), ";"):
                self.take()
            if self.peek()[0] != "end":
                raise SyntaxError(f"expected the end, found {self.peek()} in {self.text!r}")
            return steps, value

    def sum(self):
        left = self.product()
        while self.is_sym(self.peek(), "+") or self.is_sym(self.peek(), "-"):
            op = self.take()[1]
            left = ("bin", op, left, self.product())
        return left

    def product(self):
        left = self.unary()
        while any(self.is_sym(self.peek(), c) for c in "*/@"):
            op = self.take()[1]
            left = ("bin", op, left, self.unary())
        return left

    def unary(self):
        if self.is_sym(self.peek(), "-"):
            self.take()
            return ("neg", self.unary())
        return self.power()

    def power(self):
        base = self.primary()
        if self.is_sym(self.peek(), "^"):
            self.take()
            return ("bin", "^", base, self.unary())
        return base

    def primary(self):
        tok = self.take()
        if tok[0] == "num":
            return ("num", tok[1])
        if tok[0] == "name":
            if self.is_sym(self.peek(), "("):
                self.take()
                args, kwargs = [], {}
                if not self.is_sym(self.peek(), ")"):
                    while True:
                        if self.peek()[0] == "name" and self.is_sym(self.peek(1), "="):
                            key = self.take()[1]
                            self.take()
                            kwargs[key] = self.sum()
                        else:
                            if kwargs:
                                raise SyntaxError("positional after keyword")
                            args.append(self.sum())
                        if not self.is_sym(self.peek(), ","):
                            break
                        self.take()
                self.expect(")")
                return ("call", tok[1], args, kwargs)
            return ("name", tok[1])
        if self.is_sym(tok, "("):
            inner = self.sum()
            self.expect(")")
            return inner
        if self.is_sym(tok, "["):
            items = []
            if not self.is_sym(self.peek(), "]"):
                while True:
                    items.append(self.sum())
                    if not self.is_sym(self.peek(), ","):
                        break
                    self.take()
            self.expect("]")
            return ("list", items)
        raise SyntaxError(f"unexpected {tok} in {self.text!r}")


# ---- the functions, as cli/builtins.cpp defines them ----

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def pair(v):
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def conv2d(x, w, bias=None, stride=1, padding=0):
    """Cross-correlation: [N, C, H, W] with [O, C, kH, kW] (or 2-D with 2-D)."""
    two_d = x.ndim == 2
    if two_d:
        x, w = x[None, None], w[None, None]
    sh, sw = pair(stride)
    ph, pw = pair(padding)
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, wd = x.shape
    o, c2, kh, kw = w.shape
    assert c == c2, (x.shape, w.shape)
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = np.einsum("ncuv,ocuv->no", patch, w)
    if bias is not None:
        out = out + np.asarray(bias).reshape(1, -1, 1, 1)
    return out[0, 0] if two_d else out


def convolve2d(x, w, bias=None, stride=1, padding=0):
    return conv2d(x, w[..., ::-1, ::-1], bias, stride, padding)


def pool(x, k, stride=None, reduce=np.max):
    kh, kw = pair(k)
    sh, sw = pair(stride if stride is not None else k)
    h, w = x.shape[-2:]
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[..., i, j] = reduce(x[..., i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(-2, -1))
    return out


def cross_entropy(logits, targets):
    t = np.asarray(targets).astype(int)
    return -np.mean(log_softmax(logits, axis=1)[np.arange(len(t)), t])


def reduce(f):
    def g(x, axis=None, keepdim=False):
        if axis is None:
            return f(x)
        return f(x, axis=int(axis), keepdims=bool(keepdim))
    return g


FUNCTIONS = {
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "exp": np.exp,
    "log": np.log,
    "abs": np.abs,
    "pow": lambda x, p: np.power(x, p),
    "hadamard": lambda a, b: a * b,
    "matmul": lambda a, b: np.matmul(a, b),
    "outer": np.outer,
    "kron": np.kron,
    "sum": reduce(np.sum),
    "mean": reduce(np.mean),
    "reshape": lambda x, *shape: np.reshape(x, [int(s) for s in shape]),
    "transpose": lambda x, axis0=-2, axis1=-1: np.swapaxes(x, int(axis0), int(axis1)),
    "flip": lambda x, axis: np.flip(x, int(axis)),
    "softmax": lambda x, axis=-1: softmax(x, int(axis)),
    "log_softmax": lambda x, axis=-1: log_softmax(x, int(axis)),
    "mse_loss": lambda p, t: np.mean((p - t) ** 2),
    "cross_entropy": cross_entropy,
    "conv2d": conv2d,
    "convolve2d": convolve2d,
    "max_pool2d": lambda x, kernel, stride=None: pool(x, kernel, stride, np.max),
    "avg_pool2d": lambda x, kernel, stride=None: pool(x, kernel, stride, np.mean),
}


def evaluate_node(e, env):
    kind = e[0]
    if kind == "num":
        return e[1]
    if kind == "name":
        if e[1] in env:
            return env[e[1]]
        if e[1] in ("true", "false"):
            return e[1] == "true"
        raise NameError(f"unknown name {e[1]!r}")
    if kind == "neg":
        return -evaluate_node(e[1], env)
    if kind == "list":
        return [evaluate_node(a, env) for a in e[1]]
    if kind == "bin":
        op, a, b = e[1], evaluate_node(e[2], env), evaluate_node(e[3], env)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "@":
            return np.matmul(a, b)
        if op == "^":
            return np.power(a, float(b)) if isinstance(a, np.ndarray) else float(a) ** float(b)
    if kind == "call":
        f = FUNCTIONS[e[1]]
        args = [evaluate_node(a, env) for a in e[2]]
        kwargs = {k: evaluate_node(v, env) for k, v in e[3].items()}
        return f(*args, **kwargs)
    raise ValueError(e)


def run(text, env, perturb=None):
    """(value, env with the named steps); perturb = (step name, delta) adds delta to that step."""
    steps, value = Parser(text).program()
    env = dict(env)
    for name, node in steps:
        if name in env:
            raise NameError(f"step {name!r} reuses a name")
        v = evaluate_node(node, env)
        if perturb is not None and perturb[0] == name:
            v = v + perturb[1]
        env[name] = v
    return evaluate_node(value, env), env
