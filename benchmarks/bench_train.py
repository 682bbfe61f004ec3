"""Train-step throughput of MI-FER: fer-jax (one jitted step, both optimizer phases) vs PyTorch eager.

Both sides run the same work per step (see ``benchmarks/torch_mifer.py``): a forward of the residual
encoder for the estimator phase, ``mi.estimator_steps`` (2) CLUB estimator updates, then forward +
backward of residual ResNet + classifier + CLUB bound and one clipped AdamW update. Same shapes, batch
and initial hyper-parameters; the batch is resident on the device for both (the input pipeline is
measured separately by ``bench_input.py``). Residual-only (no motion-vector stream, no apex branch):
the inference-time model being trained.

Timing: ``--steps`` steps per round, JAX and PyTorch rounds interleaved ``--repeats`` times after a
warm-up (JAX compilation excluded); examples/s from the fastest round, ratio within this run. FLOPs per
step come from XLA's cost analysis of the compiled step; model-FLOPs utilisation = FLOPs/s over the
peak given by ``--peak-tflops`` (when given).

    python benchmarks/bench_train.py [--batch 8 --segments 3 --size 112] [--no-torch] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402


def mifer_config(arch: str, width: int, dtype: str):
    from configs.mi_fer import synthface

    c = synthface.get_config()
    c.model.encoder, c.model.width, c.model.dtype = arch, width, dtype
    c.model.use_mv, c.apex.enabled = False, False
    c.mi.start_step, c.mi.warmup_steps = 0, 0  # λ active from step 0 (same work either way)
    return c


def make_batch(b: int, k: int, s: int, d: int = 128, seed: int = 0) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    return {"residuals": r.normal(0, 0.1, (b, k, s, s, 3)).astype(np.float32),
            "identity_embedding": r.normal(0, 1, (b, d)).astype(np.float32),
            "label": (np.arange(b) % 7).astype(np.int32), "mask": np.ones(b, np.float32)}


def jax_step(config, batch: dict):
    """(run(n) -> seconds for n steps, flops per step) of the jitted MI-FER step, as the trainer builds it."""
    import jax
    from flax import nnx

    from fer_jax.methods import get_method

    method = get_method("mi_fer")
    graphdef, state = nnx.split(method.create(config, nnx.Rngs(0)))

    def pure_step(state, batch, step):
        module = nnx.merge(graphdef, state)
        metrics = method.train_step(module, batch, step)
        return nnx.state(module), metrics

    dev_batch = jax.device_put(batch)
    compiled = jax.jit(pure_step, donate_argnums=0).lower(state, dev_batch, np.int32(0)).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", 0.0)) if cost else 0.0
    holder = {"state": state, "step": 0}

    def run(n: int) -> float:
        t = time.perf_counter()
        st = holder["state"]
        for _ in range(n):
            st, metrics = compiled(st, dev_batch, np.int32(holder["step"]))
            holder["step"] += 1
        jax.block_until_ready((st, metrics))
        holder["state"] = st
        return time.perf_counter() - t

    return run, flops


def torch_step(batch: dict, arch: str, width: int, device: str = "cpu"):
    import torch

    from benchmarks.torch_mifer import TorchMiFer

    torch.manual_seed(0)
    model = TorchMiFer(arch, width)
    model.net.to(device)
    model.club.to(device)
    tb = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
    tb["label"] = tb["label"].long()

    def run(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            out = model.step(tb, 0.1)
        float(out["loss/encoder"])  # waits for the device
        return time.perf_counter() - t

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--segments", type=int, default=3)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "bfloat16"])
    p.add_argument("--steps", type=int, default=3, help="steps per timed round")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--torch-device", default="cpu")
    p.add_argument("--peak-tflops", type=float, nargs="*", default=None,
                   help="device peak per dtype (same order as --dtype), for model-FLOPs utilisation")
    p.add_argument("--json", nargs="?", const="", default=None, metavar="OUT")
    args = p.parse_args(argv)
    batch = make_batch(args.batch, args.segments, args.size)
    runs, flops = {}, {}
    for dt in args.dtype:
        runs[f"jax_{dt}"], flops[f"jax_{dt}"] = jax_step(mifer_config(args.arch, args.width, dt), batch)
    if not args.no_torch:
        runs["torch_eager"] = torch_step(batch, args.arch, args.width, args.torch_device)
    times = common.interleaved({k: (lambda fn=fn: fn(args.steps)) for k, fn in runs.items()}, args.repeats)
    out = {}
    for i, (k, ts) in enumerate(times.items()):
        best = min(ts)
        row = {"examples_per_s": round(args.batch * args.steps / best, 2),
               "step_ms": round(best / args.steps * 1e3, 2),
               "step_ms_median": round(float(np.median(ts)) / args.steps * 1e3, 2)}
        if k in flops and flops[k]:
            row["gflops_per_step"] = round(flops[k] / 1e9, 2)
            row["tflops_per_s"] = round(flops[k] * args.steps / best / 1e12, 3)
            if args.peak_tflops and i < len(args.peak_tflops):
                row["mfu"] = round(row["tflops_per_s"] / args.peak_tflops[i], 4)
        out[k] = row
    ratios = {f"{k} / torch_eager": round(out[k]["examples_per_s"] / out["torch_eager"]["examples_per_s"], 2)
              for k in out if k.startswith("jax") and "torch_eager" in out}
    result = {"machine": common.machine(), "shapes": {"batch": args.batch, "segments": args.segments,
              "size": args.size, "arch": args.arch, "width": args.width}, "steps": args.steps,
              "repeats": args.repeats, "results": out, "ratios": ratios}
    if args.json is not None:
        common.write_json(result, args.json or None)
        return 0
    m = result["machine"]
    print(f"{m['device']} ({m['cpu_count']} CPUs): MI-FER train step, batch {args.batch} x K={args.segments} "
          f"x {args.size}², {args.arch} w{args.width}; best of {args.repeats} rounds of {args.steps} steps")
    for k, r in out.items():
        print(f"  {k:<16} {r['examples_per_s']:9.1f} examples/s  ({r['step_ms']:.1f} ms/step"
              + (f", {r['gflops_per_step']} GFLOP/step, {r['tflops_per_s']} TFLOP/s" if "gflops_per_step" in r else "")
              + (f", MFU {r['mfu']:.1%}" if "mfu" in r else "") + ")")
    for k, v in ratios.items():
        print(f"  {k}: {v}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
