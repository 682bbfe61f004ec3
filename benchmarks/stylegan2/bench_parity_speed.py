"""StyleGAN2 generator forward + backward throughput: fer-jax (jit) vs the PyTorch reference, eager and
``torch.compile``, in one run on the same weights; and the converter's parity at that size.

IFER's setting: a frozen 256 px generator (config F widths), batch 8; the loss is backpropagated to the
W+ codes (the encoder's output), not to the generator's weights (``--wrt params`` adds those). Both
sides get the same W+ and noise maps; the JAX generator's weights are the PyTorch one's, converted by
``fer_jax.models.stylegan2.convert`` (so the parity line checks the converter at full width too).

Timing: ``--steps`` calls per round, rounds of JAX / torch eager / torch.compile interleaved
``--repeats`` times after warm-up (compilation excluded); images/s from each side's fastest round,
ratios within this run. Precision: parity in strict fp32 (TF32 off on both sides); throughput with each
framework's GPU default for fp32 convolutions (TF32 allowed on both: XLA's default precision, and
``torch.backends.cudnn.allow_tf32`` / ``cuda.matmul.allow_tf32`` set True).

    python benchmarks/stylegan2/bench_parity_speed.py                 # 256 px, batch 8, config F (GPU)
    python benchmarks/stylegan2/bench_parity_speed.py --size 32 --channel-max 64 --batch 4 --steps 2   # CPU smoke
    python benchmarks/stylegan2/bench_parity_speed.py --parity-only   # full-width parity check on CPU
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from benchmarks import common  # noqa: E402


def build(args):
    """The PyTorch reference with random weights (biases perturbed too) and its converted JAX twin."""
    import torch
    from flax import nnx

    from benchmarks.stylegan2 import torch_reference as ref
    from fer_jax.models.stylegan2 import Generator, convert

    torch.manual_seed(args.seed)
    tg = ref.randomize(ref.Generator(args.size, args.style_dim, args.n_mlp, args.channel_multiplier, args.channel_max),
                       args.seed)
    sd = {k: v.detach().numpy() for k, v in tg.state_dict().items()}
    tree = convert.convert({"g_ema": sd}, "<torch reference>")
    jg = Generator(**convert.read_arch(tree), rngs=nnx.Rngs(0))
    state = nnx.state(jg)
    nnx.replace_by_pure_dict(state, convert._int_keys(nnx.to_pure_dict(state), tree["g_ema"]))
    nnx.update(jg, state)
    return tg, jg


def inputs(jg, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    wplus = rng.normal(size=(batch, jg.n_latent, jg.style_dim)).astype(np.float32)
    noise = [rng.normal(size=(batch, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2), 1)).astype(np.float32)
             for i in range(jg.num_layers)]
    return wplus, noise


def parity(tg, jg, wplus, noise, device) -> tuple[float, float]:
    """(max |JAX − torch| over the images, max |image|), strict fp32."""
    import jax
    import jax.numpy as jnp
    import torch

    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    with torch.no_grad():
        want = tg(torch.from_numpy(wplus).to(device), [torch.from_numpy(n.transpose(0, 3, 1, 2)).to(device)
                                                         for n in noise]).cpu().numpy().transpose(0, 2, 3, 1)
    with jax.default_matmul_precision("highest"):
        got = np.asarray(jax.jit(lambda w, n: jg.synthesis(w, n))(jnp.asarray(wplus), [jnp.asarray(n) for n in noise]))
    return float(np.abs(got - want).max()), float(np.abs(want).max())


def jax_step(jg, wrt: str):
    """jit(grad): d mean(img²) / d W+ (and / d generator params with ``wrt='params'``)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    graphdef, params, rest = nnx.split(jg, nnx.Param, ...)

    def loss(p, w, n):
        return jnp.mean(jnp.square(nnx.merge(graphdef, p, rest).synthesis(w, n)))

    grad = jax.jit(jax.grad(loss, argnums=(0, 1) if wrt == "params" else 1))
    return lambda w, n: jax.block_until_ready(grad(params, w, n))


def torch_step(tg, wrt: str, compiled: bool, device):
    import torch

    tg = tg.to(device).requires_grad_(wrt == "params")
    fwd = torch.compile(tg) if compiled else tg

    def step(w, n):
        w = w.detach().requires_grad_(True)
        loss = fwd(w, n).square().mean()
        loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return w.grad

    return step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--style-dim", type=int, default=512)
    p.add_argument("--n-mlp", type=int, default=8)
    p.add_argument("--channel-multiplier", type=float, default=2.0)
    p.add_argument("--channel-max", type=int, default=512)
    p.add_argument("--wrt", choices=("wplus", "params"), default="wplus")
    p.add_argument("--steps", type=int, default=10, help="calls per timed round")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--parity-only", action="store_true")
    p.add_argument("--out", default=None, help="write the JSON result here")
    args = p.parse_args(argv)

    import jax.numpy as jnp
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tg, jg = build(args)
    wplus, noise = inputs(jg, args.batch, args.seed)
    result = {"machine": common.machine(), "torch": torch.__version__, "torch_device": str(device),
              "setting": {k: getattr(args, k) for k in ("size", "batch", "style_dim", "n_mlp", "channel_multiplier",
                                                        "channel_max", "wrt", "steps", "repeats")}}
    diff, scale = parity(tg.to(device), jg, wplus, noise, device)
    result["parity"] = {"max_abs_diff": diff, "max_abs_image": scale}
    print(f"parity {args.size} px: max |jax - torch| = {diff:.3g} (images up to {scale:.3g})", flush=True)
    if args.parity_only:
        common.write_json(result, args.out)
        return 0

    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    jw, jn = jnp.asarray(wplus), [jnp.asarray(n) for n in noise]
    tw, tn = torch.from_numpy(wplus).to(device), [torch.from_numpy(n.transpose(0, 3, 1, 2)).to(device) for n in noise]
    candidates = {"jax": (jax_step(jg, args.wrt), (jw, jn))}
    candidates["torch_eager"] = (torch_step(tg, args.wrt, False, device), (tw, tn))
    if not args.no_compile:
        candidates["torch_compile"] = (torch_step(tg, args.wrt, True, device), (tw, tn))
    warm = {}
    for name, (fn, a) in candidates.items():  # first call = compilation, reported apart
        t = time.perf_counter()
        fn(*a)
        warm[name] = round(time.perf_counter() - t, 2)
    result["first_call_s"] = warm
    print(f"first call (compile) s: {warm}", flush=True)

    def rounds(fn, a):
        return lambda: [fn(*a) for _ in range(args.steps)]

    times = common.interleaved({k: rounds(fn, a) for k, (fn, a) in candidates.items()}, args.repeats, warmup=1)
    ips = {k: round(args.batch * args.steps / min(ts), 2) for k, ts in times.items()}
    result["images_per_s"] = ips
    result["ms_per_step"] = {k: common.stats([t / args.steps for t in ts]) for k, ts in times.items()}
    result["ratios"] = {f"jax/{k}": round(ips["jax"] / ips[k], 3) for k in ips if k != "jax"}
    print(f"images/s: {ips}", flush=True)
    print(f"ratios (jax over torch, same run): {result['ratios']}", flush=True)
    common.write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
