"""Train-step throughput of MI-FER: fer-jax (one jitted step, both optimizer phases) vs PyTorch eager and
PyTorch's strongest setup (``torch.compile`` + bf16 autocast + channels_last + fused AdamW), in one run.

Both sides run the same work per step (see ``benchmarks/mi_fer/torch_reference.py``): a forward of the residual
encoder for the estimator phase, ``mi.estimator_steps`` (2) CLUB estimator updates, then forward +
backward of residual ResNet + classifier + CLUB bound and one clipped AdamW update. Same shapes, batch
and initial hyper-parameters; the batch is resident on the device for both (the input pipeline is
measured separately by ``bench_input.py``). Residual-only (no motion-vector stream, no apex branch):
the inference-time model being trained.

Timing: ``--steps`` steps per round, JAX and PyTorch rounds interleaved ``--repeats`` times after a
warm-up (JAX compilation excluded); examples/s from the fastest round, ratio within this run. Model FLOPs
per step are counted analytically (``step_flops``: 2 x multiply-adds of every convolution, forward of the
estimator phase + forward and backward (2x) of the encoder phase); XLA's own count is printed beside it
where it has one. Model-FLOPs utilisation = model FLOPs/s over ``--peak-tflops`` (per ``--dtype``).

``--profile DIR`` adds what bounds the step: per-phase times (encoder forward alone = the estimator
phase's extra forward, estimator phase, encoder phase, optimizer update alone), HLO op counts of the
compiled step (convolutions, transposes/copies, reductions, fusions) and a JAX profiler trace.

    python benchmarks/bench_train.py [--batch 8 --segments 3 --size 112] [--no-torch] [--dtype bfloat16]
        [--torch eager compile] [--profile DIR]
"""

from __future__ import annotations

import argparse
import json
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


def resnet_forward_flops(arch: str, width: int, size: int, *, padded_taps: bool = True) -> float:
    """Multiply-adds x 2 of the trunk's convolutions for one [size, size, 3] image: ``common.resnet_conv_flops``
    for the blocks of ``arch``. XLA's GPU cost analysis misses convolutions lowered to cuDNN calls
    altogether, so model-FLOPs utilisation uses this count."""
    from fer_jax.models.resnet import ARCHS

    return common.resnet_conv_flops(ARCHS[arch], width, size, padded_taps=padded_taps)


def step_flops(arch: str, width: int, size: int, batch: int, segments: int) -> float:
    """Model FLOPs of one MI-FER step: the estimator phase's forward, then forward + backward (2x forward)."""
    return 4.0 * batch * segments * resnet_forward_flops(arch, width, size)


def make_batch(b: int, k: int, s: int, d: int = 128, seed: int = 0) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    return {"residuals": r.normal(0, 0.1, (b, k, s, s, 3)).astype(np.float32),
            "identity_embedding": r.normal(0, 1, (b, d)).astype(np.float32),
            "label": (np.arange(b) % 7).astype(np.int32), "mask": np.ones(b, np.float32)}


def jax_step(config, batch: dict):
    """(run(n) -> seconds for n steps, flops per step) of the jitted MI-FER step, as the trainer builds it."""
    import jax
    from flax import nnx

    from fer_jax.core.registry import get_method
    from fer_jax.core.settings import parse

    method = get_method("mi_fer")
    graphdef, state = nnx.split(method.create(parse(config, method), nnx.Rngs(0)))

    def pure_step(state, batch, step):
        module = nnx.merge(graphdef, state)
        metrics = method.train_step(module, batch, step)
        return nnx.state(module), metrics

    dev_batch = jax.device_put(batch)
    compiled = jax.jit(pure_step, donate_argnums=0).lower(state, dev_batch, np.int32(0)).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", 0.0)) if cost else 0.0
    return common.step_runner(compiled, state, dev_batch), flops


TORCH_VARIANTS = {"eager": {}, "eager_bf16": {"fast": True}, "compile": {"fast": True, "compile": True}}


def torch_step(batch: dict, arch: str, width: int, device: str = "cpu", variant: str = "eager"):
    """(run(n) -> seconds) of the PyTorch step: ``eager`` fp32; ``eager_bf16`` (bf16 autocast +
    channels_last + fused AdamW); ``compile`` (the same + torch.compile)."""
    import torch

    from benchmarks.mi_fer.torch_reference import TorchMiFer

    torch.manual_seed(0)
    model = TorchMiFer(arch, width, **TORCH_VARIANTS[variant]).to(device)
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
    p.add_argument("--torch", nargs="+", default=["eager", "compile"], choices=list(TORCH_VARIANTS),
                   help="PyTorch rows: eager (fp32), eager_bf16 (bf16 autocast + channels_last + fused AdamW), "
                        "compile (the same + torch.compile: the strongest peer)")
    p.add_argument("--profile", metavar="DIR", default=None,
                   help="also write a per-phase breakdown, HLO op counts and a JAX profiler trace to DIR")
    p.add_argument("--torch-device", default="cpu")
    p.add_argument("--peak-tflops", type=float, nargs="*", default=None,
                   help="device peak per dtype (same order as --dtype), for model-FLOPs utilisation")
    p.add_argument("--json", nargs="?", const="", default=None, metavar="OUT")
    args = p.parse_args(argv)
    batch = make_batch(args.batch, args.segments, args.size)
    runs, flops = {}, {}
    for dt in args.dtype:
        runs[f"jax_{dt}"], flops[f"jax_{dt}"] = jax_step(mifer_config(args.arch, args.width, dt), batch)
    for variant in ([] if args.no_torch else args.torch):
        runs[f"torch_{variant}"] = torch_step(batch, args.arch, args.width, args.torch_device, variant)
    times = common.interleaved({k: (lambda fn=fn: fn(args.steps)) for k, fn in runs.items()}, args.repeats)
    out = {}
    model_flops = step_flops(args.arch, args.width, args.size, args.batch, args.segments)
    for k, ts in times.items():
        best = min(ts)
        row = {"examples_per_s": round(args.batch * args.steps / best, 2),
               "step_ms": round(best / args.steps * 1e3, 2),
               "step_ms_median": round(float(np.median(ts)) / args.steps * 1e3, 2),
               "model_gflops_per_step": round(model_flops / 1e9, 2),
               "model_tflops_per_s": round(model_flops * args.steps / best / 1e12, 3)}
        if k in flops and flops[k]:
            row["xla_gflops_per_step"] = round(flops[k] / 1e9, 2)
        dt_index = args.dtype.index(k[4:]) if k.startswith("jax_") else None
        if k in ("torch_compile", "torch_eager_bf16") and "bfloat16" in args.dtype:  # bf16 autocast: bf16 peak
            dt_index = args.dtype.index("bfloat16")
        if args.peak_tflops and dt_index is not None and dt_index < len(args.peak_tflops):
            row["mfu"] = round(row["model_tflops_per_s"] / args.peak_tflops[dt_index], 4)
        out[k] = row
    ratios = {f"{k} / {t}": round(out[k]["examples_per_s"] / out[t]["examples_per_s"], 2)
              for k in out if k.startswith("jax") for t in out if t.startswith("torch_")}
    result = {"machine": common.machine(), "shapes": {"batch": args.batch, "segments": args.segments,
              "size": args.size, "arch": args.arch, "width": args.width}, "steps": args.steps,
              "repeats": args.repeats, "results": out, "ratios": ratios}
    if args.profile:
        from benchmarks.profile_step import profile

        result["profile"] = {dt: profile(mifer_config(args.arch, args.width, dt), batch, args.profile, dt)
                             for dt in args.dtype}
    line = {"bench": "train", "device": result["machine"]["device"], "batch": args.batch, **{
        k: {"ex_per_s": r["examples_per_s"], **({"mfu": r["mfu"]} if "mfu" in r else {})} for k, r in out.items()},
        "ratios": ratios}
    if args.json is not None:
        common.write_json(result, args.json or None)
        print(json.dumps(line, separators=(",", ":")))
        return 0
    m = result["machine"]
    print(f"{m['device']} ({m['cpu_count']} CPUs): MI-FER train step, batch {args.batch} x K={args.segments} "
          f"x {args.size}², {args.arch} w{args.width}; best of {args.repeats} rounds of {args.steps} steps")
    for k, r in out.items():
        print(f"  {k:<16} {r['examples_per_s']:9.1f} examples/s  ({r['step_ms']:.1f} ms/step"
              + f", {r['model_gflops_per_step']} GFLOP/step, {r['model_tflops_per_s']} TFLOP/s"
              + (f", MFU {r['mfu']:.1%}" if "mfu" in r else "") + ")")
    for k, v in ratios.items():
        print(f"  {k}: {v}x")
    for dt, prof in result.get("profile", {}).items():
        print(f"  profile {dt}: " + ", ".join(f"{k} {v}" for k, v in prof["phases_ms"].items())
              + f"; HLO {prof['hlo_ops']}")
    print(json.dumps(line, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
