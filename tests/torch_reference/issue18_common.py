"""What the issue-18 reference scripts share: run a `gradlab grad` document, compare with torch."""
import json, subprocess, sys
import torch
G = sys.argv[1] if len(sys.argv) > 1 else "build/gradlab"
failed = []


def run(expr, inputs, constants={}):
    doc = {"expr": expr, "inputs": {k: v.tolist() for k, v in inputs.items()},
           "constants": {k: v.tolist() for k, v in constants.items()}}
    r = subprocess.run([G, "grad"], input=json.dumps(doc), capture_output=True, text=True)
    if r.returncode: print("FAIL", expr, r.stderr); return None
    return json.loads(r.stdout)


def compare(name, expr, f, inputs, constants={}):
    out = run(expr, inputs, constants)
    if out is None: failed.append(True); return
    ts = {k: v.clone().double().requires_grad_() for k, v in inputs.items()}
    val = f(**ts, **{k: v.double() for k, v in constants.items()})
    val.backward(torch.ones_like(val))
    err = (torch.tensor(out["value"], dtype=torch.float64) - val.detach()).abs().max().item()
    err /= max(1.0, val.detach().abs().max().item())
    for k in ts:
        g = torch.tensor(out["grads"][k], dtype=torch.float64)
        if ts[k].grad is None: ts[k].grad = torch.zeros_like(ts[k])
        err = max(err, (g - ts[k].grad).abs().max().item() / max(1.0, ts[k].grad.abs().max().item()))
    print(f"{name:16s} max rel err {err:.1e}", "ok" if err <= 1e-9 else "MISMATCH")
    failed.append(err > 1e-9)
