#!/usr/bin/env python3
"""Runs kiln's benchmark workloads (issue 6) in the peers kiln is measured against: PyTorch
eager, torch.compile, JAX jit and numpy, whichever are installed (the missing ones are skipped
and named). Same shapes, formulas, input ranges and dtype (f32) as
benches/common/workloads.rs, 2 threads, median of repeats after warm-up.

Prints one JSON object per line, in the format of kiln's runner plus the peer's name:
    {"name": "W0 elementwise chain 16M", "peer": "torch", "eager_ms": ...}
(compiled peers -- torch.compile, jax -- report fused_ms, eager ones eager_ms; W7 lines report
compile_ms). With --kiln FILE (the output of `cargo run --release --example bench -- --quick`)
it then prints a side-by-side table with ratios kiln / peer (below 1: kiln is faster).

    python3 benches/peers/peers.py --quick
    python3 benches/peers/peers.py --quick --only W2 --peers torch,numpy
    python3 benches/peers/peers.py --kiln kiln.jsonl --from peers.jsonl   # table only
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

THREADS = 2
# Thread counts must be set before numpy, torch or jax load their runtimes.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(THREADS))
os.environ.setdefault(
    "XLA_FLAGS",
    f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={THREADS}",
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# A fresh on-disk inductor cache per run, so torch.compile's cold compile (W7) is cold; the
# warm one then hits it, as a second compile of the same step would in practice.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="peers-inductor-"))

# Shapes and constants: keep in step with benches/common/workloads.rs.
N_ELEMWISE = 1 << 24
SOFTMAX_N = 4096
LN_ROWS, LN_COLS = 8192, 1024
MLP = (784, 512, 512, 10)
MLP_BATCH = 256
TINY_STEPS = 1000

NAMES = {
    "W0": "W0 elementwise chain 16M",
    "W1": "W1 transcendental chain 16M",
    "W2": "W2 row softmax 4096x4096",
    "W3": "W3 layer norm 8192x1024",
    "W4a": "W4 sgemm 1024^3",
    "W4b": "W4 sgemm 2048^3",
    "W5": "W5 MLP train step 784-512-512-10 b256",
    "W6": "W6 tiny net 20-10-20 x1000 steps",
    "W7a": "W7 compile latency W5 cold",
    "W7b": "W7 compile latency W5 warm",
}


def log(msg):
    print(f"peers: {msg}", file=sys.stderr, flush=True)


def measure(fn, warmup, reps, budget_s):
    """Median milliseconds of `fn()` over at most `reps` runs after `warmup` runs, stopping
    once `budget_s` seconds of timed runs have passed (at least one). The budget starts after
    the warm-up, which holds torch.compile's and jit's compilation."""
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    times = []
    while len(times) < max(reps, 1):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
        if time.perf_counter() - start > budget_s:
            break
    return statistics.median(times), len(times)


def inputs(np):
    """The workloads' inputs as numpy f32 arrays (distributions as in workloads.rs)."""
    rng = np.random.default_rng(0)

    def u(shape, lo, hi):
        return rng.uniform(lo, hi, size=shape).astype(np.float32)

    return {
        "x16m": u((N_ELEMWISE,), -2.0, 2.0),
        "sm": u((SOFTMAX_N, SOFTMAX_N), -4.0, 4.0),
        "ln": (u((LN_ROWS, LN_COLS), -1, 1), u((LN_COLS,), -1, 1), u((LN_COLS,), -1, 1)),
        "g1024": (u((1024, 1024), -1, 1), u((1024, 1024), -1, 1)),
        "g2048": (u((2048, 2048), -1, 1), u((2048, 2048), -1, 1)),
        "mlp": (u((MLP_BATCH, MLP[0]), 0, 1), rng.integers(0, MLP[3], MLP_BATCH)),
    }


def init_linear(np, rng, fan_in, fan_out, bias=True):
    """nn.Linear's default init distribution: U(+-1/sqrt(fan_in)) (values need not match)."""
    bound = 1.0 / np.sqrt(fan_in)
    w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
    b = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32) if bias else None
    return w, b


# ---------------------------------------------------------------------------------------------
# numpy: eager, with the training steps written out by hand (forward, backward, Adam).


def numpy_jobs(np, data):
    x = data["x16m"]
    sm = data["sm"]
    lx, lw, lb = data["ln"]

    def w3():
        mean = lx.mean(-1, keepdims=True)
        c = lx - mean
        var = (c * c).mean(-1, keepdims=True)
        return c / np.sqrt(var + 1e-5) * lw + lb

    def w2():
        e = np.exp(sm - sm.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    jobs = {
        "W0": lambda: np.maximum(x * 1.5 + 0.25, 0) * 2 - 0.5,
        "W1": lambda: np.sin(x) * np.exp(-x * x) + 0.5 * np.log1p(x * x),
        "W2": w2,
        "W3": w3,
        "W4a": lambda: data["g1024"][0] @ data["g1024"][1],
        "W4b": lambda: data["g2048"][0] @ data["g2048"][1],
    }
    rng = np.random.default_rng(1)
    jobs["W5"] = numpy_mlp_step(np, rng, *data["mlp"])
    jobs["W6"] = numpy_tiny_steps(np, rng)
    return jobs


class NumpyAdam:
    """torch.optim.Adam's update (betas 0.9, 0.999, eps 1e-8) over a list of arrays."""

    def __init__(self, np, params, lr):
        self.np, self.p, self.lr, self.t = np, params, lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads):
        np, b1, b2 = self.np, 0.9, 0.999
        self.t += 1
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, g, m, v in zip(self.p, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= (self.lr / c1) * m / (np.sqrt(v / c2) + 1e-8)


def numpy_mlp_step(np, rng, x, y):
    layers = [init_linear(np, rng, MLP[i], MLP[i + 1]) for i in range(3)]
    params = [a for wb in layers for a in wb]
    adam = NumpyAdam(np, params, 1e-3)
    onehot = np.eye(MLP[3], dtype=np.float32)[y]

    def step():
        w1, b1, w2, b2, w3, b3 = params
        h1 = np.maximum(x @ w1.T + b1, 0)
        h2 = np.maximum(h1 @ w2.T + b2, 0)
        z = h2 @ w3.T + b3
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        loss = -(logp * onehot).sum() / MLP_BATCH
        dz = (np.exp(logp) - onehot) / MLP_BATCH
        dh2 = (dz @ w3) * (h2 > 0)
        dh1 = (dh2 @ w2) * (h1 > 0)
        grads = [dh1.T @ x, dh1.sum(0), dh2.T @ h1, dh2.sum(0), dz.T @ h2, dz.sum(0)]
        adam.step(grads)
        return loss

    return step


def numpy_tiny_steps(np, rng):
    x = np.linspace(-1, 1, 20, dtype=np.float32)
    y = x**3 - x
    w, _ = init_linear(np, rng, 20, 10, bias=False)
    a, b = init_linear(np, rng, 10, 20)
    params = [w, a, b]
    adam = NumpyAdam(np, params, 0.01)

    def run():
        for _ in range(TINY_STEPS):
            h = 1 / (1 + np.exp(-(w @ x)))
            out = a @ h + b
            d = 2 * (out - y) / out.size
            dh = (a.T @ d) * h * (1 - h)
            adam.step([np.outer(dh, x), np.outer(d, h), d])

    return run


# ---------------------------------------------------------------------------------------------
# PyTorch: eager, and the same functions through torch.compile.


def torch_jobs(torch, np, data, compiled):
    F = torch.nn.functional
    t = {k: (tuple(torch.from_numpy(a) for a in v) if isinstance(v, tuple) else torch.from_numpy(v))
         for k, v in data.items()}
    wrap = torch.compile if compiled else (lambda f: f)
    x, sm = t["x16m"], t["sm"]
    lx, lw, lb = t["ln"]
    f0 = wrap(lambda x: torch.relu(x * 1.5 + 0.25) * 2 - 0.5)
    f1 = wrap(lambda x: torch.sin(x) * torch.exp(-x * x) + 0.5 * torch.log1p(x * x))
    f2 = wrap(lambda x: torch.softmax(x, 1))
    f3 = wrap(lambda x, w, b: F.layer_norm(x, (LN_COLS,), w, b, 1e-5))
    f4 = wrap(lambda a, b: a @ b)
    jobs = {
        "W0": lambda: f0(x),
        "W1": lambda: f1(x),
        "W2": lambda: f2(sm),
        "W3": lambda: f3(lx, lw, lb),
        "W4a": lambda: f4(*t["g1024"]),
        "W4b": lambda: f4(*t["g2048"]),
    }
    mx, my = t["mlp"][0], t["mlp"][1].long()
    jobs["W5"] = torch_mlp_step(torch, wrap, mx, my)
    jobs["W6"] = torch_tiny_steps(torch, wrap)
    return jobs


def torch_mlp_step(torch, wrap, x, y):
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(MLP[0], MLP[1]), nn.ReLU(), nn.Linear(MLP[1], MLP[2]),
                          nn.ReLU(), nn.Linear(MLP[2], MLP[3]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return wrap(step)


def torch_tiny_steps(torch, wrap):
    torch.manual_seed(0)
    nn = torch.nn
    x = torch.linspace(-1, 1, 20)
    y = x**3 - x
    model = nn.Sequential(nn.Linear(20, 10, bias=False), nn.Sigmoid(), nn.Linear(10, 20))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = wrap(step)

    def run():
        for _ in range(TINY_STEPS):
            step()

    return run


def torch_compile_latency(torch, data):
    """torch.compile of W5's step: first call minus a steady call; cold is the first compile
    in this process; warm compiles a second, identical step: dynamo traces it again and
    inductor's caches (FX graph, AOT autograd) serve the generated code."""
    x, y = torch.from_numpy(data["mlp"][0]), torch.from_numpy(data["mlp"][1]).long()
    out = {}
    for which in ("W7a", "W7b"):
        step = torch_mlp_step(torch, torch.compile, x, y)
        t = time.perf_counter()
        step()
        first = time.perf_counter() - t
        steady, _ = measure(step, 0, 3, 10)
        out[which] = max(first * 1e3 - steady, 0.0)
    return out


# ---------------------------------------------------------------------------------------------
# JAX: jit of the same functions; the training steps are pure functions with Adam written out.


def jax_jobs(jax, np, data):
    jnp = jax.numpy
    put = jax.device_put
    x, sm = put(data["x16m"]), put(data["sm"])
    lx, lw, lb = (put(a) for a in data["ln"])

    @jax.jit
    def f3(x, w, b):
        c = x - x.mean(-1, keepdims=True)
        var = (c * c).mean(-1, keepdims=True)
        return c / jnp.sqrt(var + 1e-5) * w + b

    f0 = jax.jit(lambda x: jnp.maximum(x * 1.5 + 0.25, 0) * 2 - 0.5)
    f1 = jax.jit(lambda x: jnp.sin(x) * jnp.exp(-x * x) + 0.5 * jnp.log1p(x * x))
    f2 = jax.jit(lambda x: jax.nn.softmax(x, axis=1))
    f4 = jax.jit(lambda a, b: a @ b)
    g1, g2 = [put(a) for a in data["g1024"]], [put(a) for a in data["g2048"]]
    ready = jax.block_until_ready
    jobs = {
        "W0": lambda: ready(f0(x)),
        "W1": lambda: ready(f1(x)),
        "W2": lambda: ready(f2(sm)),
        "W3": lambda: ready(f3(lx, lw, lb)),
        "W4a": lambda: ready(f4(*g1)),
        "W4b": lambda: ready(f4(*g2)),
    }
    rng = np.random.default_rng(1)
    step, state = jax_mlp(jax, np, rng)
    mx, my = put(data["mlp"][0]), put(data["mlp"][1].astype(np.int32))
    holder = {"s": state}

    def w5():
        holder["s"] = ready(step(holder["s"], mx, my))

    jobs["W5"] = w5
    tiny_step, tiny_state = jax_tiny(jax, np, rng)
    tiny = {"s": tiny_state}

    def w6():
        s = tiny["s"]
        for _ in range(TINY_STEPS):
            s = tiny_step(s)
        tiny["s"] = ready(s)

    jobs["W6"] = w6
    return jobs


def jax_adam(jax, params, grads, m, v, t, lr):
    jnp = jax.numpy
    b1, b2 = 0.9, 0.999
    t = t + 1
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    c1, c2 = 1 - b1**t, 1 - b2**t
    params = jax.tree_util.tree_map(
        lambda p, m, v: p - (lr / c1) * m / (jnp.sqrt(v / c2) + 1e-8), params, m, v)
    return params, m, v, t


def _jax_mlp_loss(params, x, y):
    import jax

    jnp = jax.numpy
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w.T + b
        if i < 2:
            h = jnp.maximum(h, 0)
    logp = jax.nn.log_softmax(h, axis=1)
    return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()


def _jax_mlp_step(state, x, y):
    # Module-level (not a closure), so that a second jax.jit of it hits jax's tracing and
    # compilation caches: that is W7's warm compile.
    import jax

    params, m, v, t = state
    grads = jax.grad(_jax_mlp_loss)(params, x, y)
    return jax_adam(jax, params, grads, m, v, t, 1e-3)


def jax_mlp(jax, np, rng):
    jnp = jax.numpy
    params = [tuple(jnp.asarray(a) for a in init_linear(np, rng, MLP[i], MLP[i + 1]))
              for i in range(3)]
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return jax.jit(_jax_mlp_step), (params, zeros, zeros, jnp.float32(0))


def jax_tiny(jax, np, rng):
    jnp = jax.numpy
    w, _ = init_linear(np, rng, 20, 10, bias=False)
    a, b = init_linear(np, rng, 10, 20)
    params = (jnp.asarray(w), jnp.asarray(a), jnp.asarray(b))
    x = jnp.linspace(-1, 1, 20, dtype=jnp.float32)
    y = x**3 - x

    def loss_fn(p):
        w, a, b = p
        return jnp.mean((a @ jax.nn.sigmoid(w @ x) + b - y) ** 2)

    @jax.jit
    def step(state):
        params, m, v, t = state
        return jax_adam(jax, params, jax.grad(loss_fn)(params), m, v, t, 0.01)

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return step, (params, zeros, zeros, jnp.float32(0))


def jax_compile_latency(jax, np, data):
    """jit of W5's step: first call minus a steady call. Cold: the first compile in this
    process; warm: a fresh jax.jit of the same function on the same shapes (jax's caches)."""
    out = {}
    mx, my = jax.device_put(data["mlp"][0]), jax.device_put(data["mlp"][1].astype(np.int32))
    for which in ("W7a", "W7b"):
        step, state = jax_mlp(jax, np, np.random.default_rng(1))
        t = time.perf_counter()
        s = jax.block_until_ready(step(state, mx, my))
        first = time.perf_counter() - t
        steady, _ = measure(lambda: jax.block_until_ready(step(s, mx, my)), 0, 3, 10)
        out[which] = max(first * 1e3 - steady, 0.0)
    return out


# ---------------------------------------------------------------------------------------------


def selected(key, only):
    return not only or any(key.upper().startswith(o) or NAMES[key].upper().startswith(o)
                           for o in only)


def run_peers(args):
    lines = []

    def emit(obj):
        print(json.dumps(obj), flush=True)
        lines.append(obj)

    warmup, reps, budget = (1, 5, 3.0) if args.quick else (2, 15, 20.0)
    wanted = [p.strip() for p in args.peers.split(",") if p.strip()]
    try:
        import numpy as np
    except ImportError:
        log("numpy is not installed: nothing can run (pip install numpy)")
        return lines
    data = inputs(np)
    versions = {"name": "peer versions", "python": platform.python_version(),
                "numpy": np.__version__, "threads": THREADS}
    mods = {}
    for mod in ("torch", "jax"):
        try:
            mods[mod] = __import__(mod)
            versions[mod] = mods[mod].__version__
        except ImportError:
            versions[mod] = "not installed"
    if "torch" in mods:
        mods["torch"].set_num_threads(THREADS)
    emit(versions)
    builders = {
        "numpy": lambda: numpy_jobs(np, data),
        "torch": lambda: torch_jobs(mods["torch"], np, data, compiled=False),
        "torch.compile": lambda: torch_jobs(mods["torch"], np, data, compiled=True),
        "jax": lambda: jax_jobs(mods["jax"], np, data),
    }
    needs = {"numpy": None, "torch": "torch", "torch.compile": "torch", "jax": "jax"}
    keys = [k for k in NAMES if selected(k, args.only)]
    for peer in wanted:
        if peer not in builders:
            log(f"unknown peer {peer}; known: {', '.join(builders)}")
            continue
        if needs[peer] and needs[peer] not in mods:
            log(f"{peer}: skipped, {needs[peer]} is not installed")
            emit({"name": "peer skipped", "peer": peer,
                  "note": f"{needs[peer]} is not installed"})
            continue
        field = "fused_ms" if peer in ("torch.compile", "jax") else "eager_ms"
        # W7 first: W5's job would otherwise have compiled the same step already.
        if peer in ("torch.compile", "jax") and any(k.startswith("W7") for k in keys):
            log(f"{peer}: W7 compile latency ...")
            try:
                lat = (torch_compile_latency(mods["torch"], data) if peer == "torch.compile"
                       else jax_compile_latency(mods["jax"], np, data))
                for key in ("W7a", "W7b"):
                    if key in keys:
                        emit({"name": NAMES[key], "peer": peer, "compile_ms": round(lat[key], 3)})
            except Exception as e:
                emit({"name": NAMES["W7a"], "peer": peer, "note": f"failed: {e!r}"[:300]})
        try:
            jobs = builders[peer]()
        except Exception as e:  # a peer that cannot even build is reported, not fatal
            log(f"{peer}: cannot build the workloads: {e!r}")
            continue
        for key in keys:
            if key.startswith("W7"):
                continue
            log(f"{peer}: {NAMES[key]} ...")
            try:
                ms, n = measure(jobs[key], warmup, reps, budget)
                obj = {"name": NAMES[key], "peer": peer, field: round(ms, 4), "reps": n}
                if key == "W6":
                    obj["per_step_us"] = round(ms * 1e3 / TINY_STEPS, 3)
                emit(obj)
            except Exception as e:
                emit({"name": NAMES[key], "peer": peer, "note": f"failed: {e!r}"[:300]})
    return lines


def read_jsonl(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return out


def peer_ms(obj):
    for k in ("fused_ms", "eager_ms", "compile_ms"):
        if isinstance(obj.get(k), (int, float)):
            return obj[k]
    return None


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.4g}"


def side_by_side(kiln_lines, peer_lines):
    """Table: kiln's time per workload, each peer's, and kiln / peer."""
    kiln = {o["name"]: o for o in kiln_lines if str(o.get("name", "")).startswith("W")}
    peers = []
    for o in peer_lines:
        if o.get("peer") and o.get("name", "").startswith("W") and o["peer"] not in peers:
            peers.append(o["peer"])
    by = {(o["name"], o["peer"]): peer_ms(o) for o in peer_lines
          if o.get("peer") and o.get("name", "").startswith("W")}
    device = sorted({o.get("device", "?") for o in kiln.values()})
    lim = next((o for o in kiln_lines if o.get("name") == "machine limits"), None)
    print()
    print(f"kiln device: {', '.join(device)}  (kiln ms = fused_ms, compile_ms for W7; "
          f"ratio = kiln / peer, below 1 means kiln is faster)")
    if lim:
        print(f"machine: copy {fmt(lim.get('copy_gbs'))} GB/s, y = a*x + b "
              f"{fmt(lim.get('axpb_gbs'))} GB/s, GEMM {fmt(lim.get('gemm_gflops'))} GFLOP/s")
    header = ["workload", "kiln ms", "eager ms", "limit ms"]
    for p in peers:
        header += [f"{p} ms", "ratio"]
    rows = []
    names = list(NAMES.values())
    for name in names:
        k = kiln.get(name, {})
        # Only like is compared with like: a kiln lowering time (the interpreter compiles
        # nothing) is shown for W7 but not divided by a peer's compile time.
        kms = next((k[f] for f in ("fused_ms", "compile_ms")
                    if isinstance(k.get(f), (int, float))), None)
        shown = fmt(kms)
        if kms is None and isinstance(k.get("lower_ms"), (int, float)):
            shown = f"lower {fmt(k['lower_ms'])}"
        elif kms is None and k.get("timeout_s"):
            shown = f">{k['timeout_s'] * 1000}"
        row = [name, shown, fmt(k.get("eager_ms")), fmt(k.get("limit_ms"))]
        for p in peers:
            pm = by.get((name, p))
            ratio = f"{kms / pm:.2f}" if kms is not None and pm else "-"
            row += [fmt(pm), ratio]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for j, r in enumerate([header, ["-" * w for w in widths]] + rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="warm-up, then the median of at most 5 runs within 3 s")
    ap.add_argument("--only", action="append", default=[],
                    help="workloads whose key or name starts with this (W2, W4; repeatable)")
    ap.add_argument("--peers", default="torch,torch.compile,jax,numpy",
                    help="comma-separated subset of torch,torch.compile,jax,numpy")
    ap.add_argument("--kiln", help="kiln's JSON lines: print a side-by-side table")
    ap.add_argument("--from", dest="from_file",
                    help="peer JSON lines from an earlier run: do not run the peers again")
    args = ap.parse_args()
    args.only = [o.upper() for arg in args.only for o in arg.split(",") if o]
    if args.from_file:
        peer_lines = read_jsonl(args.from_file)
    else:
        peer_lines = run_peers(args)
    if args.kiln:
        side_by_side(read_jsonl(args.kiln), peer_lines)


if __name__ == "__main__":
    main()
