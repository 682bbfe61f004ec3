"""Train-step throughput of STT: fer-jax (one jitted step) vs a PyTorch reference of the same network,
eager and ``torch.compile``, at the paper's shapes by default (batch 32 × 16 frames × 112²).

Both sides do the same work per step (``benchmarks/stt/torch_reference.py``): forward of ResNet-18-to-layer3 on
every frame, the factorised space-time transformer (width 512, 4 blocks, 8 heads), CE + compact loss with
EMA centres, backward, one SGD-momentum update; dropout 0.1 on both. Synthetic inputs resident on the
device; no TensorFlow. ``--dtype bfloat16``: bf16 compute with float32 parameters on every side (JAX:
``model.dtype``; PyTorch: ``torch.autocast``); float32 otherwise.

Timing: ``--steps`` steps per round, candidates interleaved ``--repeats`` times after a warm-up
(compilation excluded); steps/s from the fastest round, ratios within this run. Model FLOPs are counted
analytically (:func:`step_flops`: 2 × multiply-adds of every convolution and matrix product, attention's
QKᵀ and AV included, forward × 3 for forward + backward); MFU = model FLOPs/s over ``--peak-tflops``.
The last line printed is one JSON object with everything.

    python benchmarks/stt/bench_train_step.py [--batch 32 --frames 16 --size 112 --steps 5 --dtype bfloat16
                                               --peak-tflops 989] [--no-compile] [--no-torch]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from benchmarks import common  # noqa: E402

CLASSES = 7


def trunk_flops(size: int, width: int = 64, blocks: tuple[int, ...] = (2, 2, 2)) -> float:
    """2 × multiply-adds of ResNet-to-layer3's convolutions for one [size, size, 3] frame (every kernel tap
    counts, the usual convention; norms, ReLUs and pooling are not counted)."""
    return common.resnet_conv_flops(blocks, width, size)


def transformer_flops(frames: int, tokens: int, channels: int, width: int, depth: int, mlp_ratio: int = 4) -> float:
    """2 × multiply-adds of one clip's transformer forward: token embedding, per block spatial attention over
    T sequences of N+1 tokens, temporal attention over N sequences of T, the MLP on T·N + 1 tokens
    (attention: QKV and output projections plus QKᵀ and AV, 2·L²·D each)."""
    t, n, d = frames, tokens, width
    embed = 2.0 * t * n * channels * d

    def attention(seqs, length):
        return seqs * (2.0 * length * d * 3 * d + 2 * 2.0 * length * length * d + 2.0 * length * d * d)

    block = attention(t, n + 1) + attention(n, t) + 2 * 2.0 * (t * n + 1) * d * mlp_ratio * d
    return embed + depth * block


def step_flops(batch: int, frames: int, size: int, width: int = 512, depth: int = 4) -> dict[str, float]:
    """Model FLOPs of one train step (forward + backward = 3 × forward) and the parts."""
    side = -(-size // 16)
    trunk = frames * trunk_flops(size)
    trans = transformer_flops(frames, side * side, 256, width, depth)
    return {"total": 3.0 * batch * (trunk + trans), "trunk": 3.0 * batch * trunk, "transformer": 3.0 * batch * trans}


def stt_config(batch: int, frames: int, size: int, dtype: str, attention: str = "auto"):
    from configs.stt import dfew

    c = dfew.get_config("random")
    c.model.dtype, c.model.attention = dtype, attention
    c.input.size, c.input.batch_size = size, batch
    c.input.segments, c.input.frames_per_segment = frames // 2, 2
    return c


def jax_step(config, frames: np.ndarray, labels: np.ndarray):
    """run(n) -> seconds for n jitted steps of the STT method, as the trainer builds its step."""
    import jax
    from flax import nnx

    from fer_jax.core.registry import get_method
    from fer_jax.core.settings import parse

    method = get_method("stt")
    graphdef, state = nnx.split(method.create(parse(config, method), nnx.Rngs(0)))

    def pure_step(state, batch, step):
        module = nnx.merge(graphdef, state)
        metrics = method.train_step(module, batch, step)
        return nnx.state(module), metrics

    batch = jax.device_put({"frames": frames, "label": labels, "mask": np.ones(len(labels), np.float32)})
    compiled = jax.jit(pure_step, donate_argnums=0).lower(state, batch, np.int32(0)).compile()
    return common.step_runner(compiled, state, batch)


def torch_step(frames: np.ndarray, labels: np.ndarray, *, compile: bool, bf16: bool, device: str):
    import torch

    from benchmarks.stt.torch_reference import TorchSttStep

    torch.manual_seed(0)
    b, t, s = frames.shape[:3]
    model = TorchSttStep(CLASSES, t, s, device=device, compile=compile, bf16=bf16)
    x = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 1, 4, 2, 3))).to(device)
    y = torch.from_numpy(labels).long().to(device)

    def run(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            loss = model.step(x, y)
        float(loss)  # waits for the device
        return time.perf_counter() - t0

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--frames", type=int, default=16, help="T = 8 segments x 2 frames at the paper's shapes")
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    p.add_argument("--steps", type=int, default=5, help="steps per timed round")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for --dtype (H100 SXM bf16: 989)")
    p.add_argument("--attention", nargs="+", default=["auto"], choices=["auto", "xla", "cudnn"],
                   help="JAX attention implementations to time (auto = cuDNN on a GPU in bf16)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to build on a CPU)")
    p.add_argument("--torch-device", default=None, help="default: cuda when available, else cpu")
    args = p.parse_args(argv)
    if args.frames % 2:
        p.error("--frames must be even (segments of 2 consecutive frames)")
    rng = np.random.default_rng(0)
    frames = rng.uniform(0, 1, (args.batch, args.frames, args.size, args.size, 3)).astype(np.float32)
    labels = (np.arange(args.batch) % CLASSES).astype(np.int32)
    runs = {f"jax_{args.dtype}" + ("" if a == "auto" else f"_{a}"):
            jax_step(stt_config(args.batch, args.frames, args.size, args.dtype, a), frames, labels)
            for a in args.attention}
    jax_key = next(iter(runs))
    if not args.no_torch:
        import torch

        device = args.torch_device or ("cuda" if torch.cuda.is_available() else "cpu")
        bf16 = args.dtype == "bfloat16"
        runs[f"torch_eager_{args.dtype}"] = torch_step(frames, labels, compile=False, bf16=bf16, device=device)
        if not args.no_compile:
            runs[f"torch_compile_{args.dtype}"] = torch_step(frames, labels, compile=True, bf16=bf16, device=device)
    times = common.interleaved({k: (lambda fn=fn: fn(args.steps)) for k, fn in runs.items()}, args.repeats)
    flops = step_flops(args.batch, args.frames, args.size)
    results = {}
    for key, ts in times.items():
        best = min(ts)
        row = {"steps_per_s": round(args.steps / best, 3), "step_ms": round(best / args.steps * 1e3, 2),
               "step_ms_median": round(float(np.median(ts)) / args.steps * 1e3, 2),
               "model_tflops_per_s": round(flops["total"] * args.steps / best / 1e12, 3)}
        if args.peak_tflops:
            row["mfu"] = round(row["model_tflops_per_s"] / args.peak_tflops, 4)
        results[key] = row
    ratios = {f"{jax_key} / {k}": round(results[jax_key]["steps_per_s"] / r["steps_per_s"], 3)
              for k, r in results.items() if k != jax_key}
    from fer_jax.methods.stt.transformer import attention_implementation

    out_impl = {a: attention_implementation(a, args.dtype, 64)
                for a in args.attention}
    out = {"machine": common.machine(), "shapes": {"batch": args.batch, "frames": args.frames, "size": args.size,
           "dtype": args.dtype}, "steps": args.steps, "repeats": args.repeats,
           "model_gflops_per_step": {k: round(v / 1e9, 2) for k, v in flops.items()},
           "peak_tflops": args.peak_tflops, "attention": out_impl, "results": results, "ratios": ratios}
    m = out["machine"]
    print(f"{m['device']} ({m['cpu_count']} CPUs): STT train step, batch {args.batch} x {args.frames} frames x "
          f"{args.size}², {args.dtype}; {out['model_gflops_per_step']['total']} model GFLOP/step; "
          f"best of {args.repeats} rounds of {args.steps} steps")
    for k, r in results.items():
        print(f"  {k:<24} {r['steps_per_s']:8.3f} steps/s ({r['step_ms']:.1f} ms/step, "
              f"{r['model_tflops_per_s']} TFLOP/s" + (f", MFU {r['mfu']:.1%}" if "mfu" in r else "") + ")")
    for k, v in ratios.items():
        print(f"  {k}: {v}x")
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
