"""Semi-supervised AU intensity on SynthFace: does stage-1 contrastive pre-training help a regressor
trained from few labelled frames? A CPU-sized learning curve (mean ICC(3,1) on unseen identities vs the
labelled fraction), pretrained vs from scratch, over seeds.

    python benchmarks/au/bench_labels.py --out runs/bench_au --seeds 0 1 --fractions 0.01 0.02 0.05 1.0

Data: SynthFace clips rendered in memory (``data_pipelines.synthface.render_clip``, the renderer the
TFDS builder uses, without the MPEG-4 round trip), one clip per expression per identity; training
identities and test identities are disjoint (``sample_identities(start=...)``). Models: the
``configs/au/synthface_{pretrain,finetune}.py:tiny`` settings at the sizes below, trained by the shared
trainer (``fer_jax.train.train``) from in-memory iterators. Stage 1 reads the training clips' frames
only; stage 2 keeps ``fraction`` of the training frames' labels by the label-subset hash (recorded in
each workdir's ``label_subset.json``). Results: ``OUT/results.json``, ``OUT/results.md`` and the learning
curve ``OUT/au_label_curve.png``. Finished runs are skipped on a rerun (their ``result.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from configs.au import synthface_finetune, synthface_pretrain  # noqa: E402
from data_pipelines.atomic import atomic_write  # noqa: E402
from data_pipelines.synthface import EXPRESSIONS, render_clip, sample_identities  # noqa: E402


def render_split(n_identities: int, start: int, frames: int, size: int, seed: int) -> dict[str, np.ndarray]:
    """Every expression of ``n_identities`` identities (from index ``start``) as in-memory arrays."""
    clips, aus, keys = [], [], []
    for i, ident in enumerate(sample_identities(n_identities, seed=seed, start=start)):
        for e in range(len(EXPRESSIONS)):
            f, lab = render_clip(ident, e, regime="lab", n_frames=frames, size=size,
                                 seed=seed * 100_003 + start + i * 7 + e)
            clips.append(f)
            aus.append(np.asarray(lab["au_intensity"], np.float32))
            keys.append(zlib.crc32(f"id{start + i}_e{e}".encode()) & 0x7FFFFFFF)
    au = np.stack(aus)
    return {"frames": np.stack(clips).astype(np.float32) / 255.0, "au_intensity": au,
            "au_mask": (au >= 0).astype(np.float32), "clip_key": np.asarray(keys, np.int32),
            "frame_index": np.broadcast_to(np.arange(frames, dtype=np.int32), au.shape[:2]).copy()}


def _common(c, args, steps: int, seed: int):
    c.input.update(dict(size=args.size, window=args.frames, batch_size=args.batch, eval_batch_size=args.batch))
    c.model.update(dict(width=args.width, feature_dim=args.dim, hidden=args.dim, proj_dim=args.dim))
    c.total_steps, c.seed = steps, seed
    c.log_every, c.ckpt_every, c.eval_every = max(steps // 10, 1), steps, 0  # evaluate once, at the end
    c.optim.lr = args.lr
    c.optim.warmup_steps = max(steps // 20, 1)
    return c


def pretrain(args, train: dict, seed: int) -> str:
    from fer_jax.core.array_iterator import ArrayIterator
    from fer_jax.train.trainer import train as run

    wd = os.path.join(args.out, f"pre_s{seed}")
    if os.path.isfile(os.path.join(wd, "result.json")):
        return wd
    c = _common(synthface_pretrain.get_config("tiny,random"), args, args.pre_steps, seed)
    c.contrastive.update(dict(view_frames=args.view, max_shift=args.shift))
    it = ArrayIterator({"frames": train["frames"]}, args.batch, seed=seed)
    t0 = time.time()
    out = run(c, wd, train_iter=it)
    _write(os.path.join(wd, "result.json"), {"train": out["train"], "seconds": time.time() - t0})
    return wd


def finetune(args, train: dict, test: dict, seed: int, fraction: float, pre: str | None) -> dict:
    from fer_jax.core.array_iterator import ArrayIterator
    from fer_jax.methods.au import label_subset
    from fer_jax.train.trainer import train as run

    name = f"{'pre' if pre else 'scratch'}_f{fraction:g}_s{seed}"
    wd = os.path.join(args.out, name)
    done = os.path.join(wd, "result.json")
    if os.path.isfile(done):
        with open(done) as f:
            return json.load(f)
    variant = f"tiny,random,fraction={fraction},labels_seed={seed}," + (f"pretrain={pre}" if pre else "scratch")
    c = _common(synthface_finetune.get_config(variant), args, args.ft_steps, seed)
    summary = label_subset.summarise(seed, fraction, zip(train["clip_key"], train["au_mask"]))
    label_subset.write_record(wd, summary)
    it = ArrayIterator(train, args.batch, seed=seed)
    t0 = time.time()
    out = run(c, wd, train_iter=it, eval_iter_fn=lambda: ArrayIterator(test, args.batch, train=False))
    val = out["val"]
    result = {"run": name, "seed": seed, "fraction": fraction, "pretrained": bool(pre),
              "chosen_coded_frames": summary["chosen_coded_frames"], "icc_mean": val["val/icc_mean"],
              "mae_mean": val["val/mae_mean"], "pcc_mean": val["val/pcc_mean"], "seconds": time.time() - t0}
    _write(done, result)
    return result


def _write(path: str, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1))


def report(args, results: list[dict]) -> None:
    rows = {}
    for r in results:
        rows.setdefault((r["pretrained"], r["fraction"]), []).append(r)
    lines = ["| init | labelled fraction | chosen frames (mean) | mean ICC | mean MAE | mean PCC | seeds |",
             "|---|---|---|---|---|---|---|"]
    table = []
    for (pre, frac), rs in sorted(rows.items(), key=lambda kv: (kv[0][1], not kv[0][0])):
        icc = np.array([r["icc_mean"] for r in rs])
        entry = dict(pretrained=pre, fraction=frac, icc_mean=float(icc.mean()), icc_sd=float(icc.std()),
                     mae_mean=float(np.mean([r["mae_mean"] for r in rs])),
                     pcc_mean=float(np.mean([r["pcc_mean"] for r in rs])), seeds=[r["seed"] for r in rs],
                     chosen=float(np.mean([r["chosen_coded_frames"] for r in rs])))
        table.append(entry)
        lines.append(f"| {'stage 1' if pre else 'scratch'} | {frac:g} | {entry['chosen']:.0f} | "
                     f"{entry['icc_mean']:.3f} ± {entry['icc_sd']:.3f} | {entry['mae_mean']:.3f} | "
                     f"{entry['pcc_mean']:.3f} | {', '.join(map(str, entry['seeds']))} |")
    _write(os.path.join(args.out, "results.json"), {"settings": vars(args), "table": table, "runs": results})
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(args, table)


def plot(args, table: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=100)
    for pre, style in ((True, "o-"), (False, "s--")):
        pts = sorted((e["fraction"], e["icc_mean"], e["icc_sd"]) for e in table if e["pretrained"] == pre)
        if pts:
            x, y, sd = map(np.array, zip(*pts))
            ax.errorbar(100 * x, y, yerr=sd, fmt=style, capsize=3,
                        label="stage-1 pretrained" if pre else "from scratch")
    ax.set_xscale("log")
    ax.set_xlabel("labelled frames (%)")
    ax.set_ylabel("mean ICC(3,1), unseen identities")
    ax.set_title(f"SynthFace AU intensity, seeds {', '.join(map(str, args.seeds))}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "au_label_curve.png"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.02, 0.05, 1.0])
    p.add_argument("--train-identities", type=int, default=24)
    p.add_argument("--test-identities", type=int, default=8)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--view", type=int, default=8)
    p.add_argument("--shift", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--pre-steps", type=int, default=400)
    p.add_argument("--ft-steps", type=int, default=300)
    p.add_argument("--inits", nargs="+", choices=("pre", "scratch"), default=["pre", "scratch"],
                   help="which stage-2 initialisations to run (separate processes can share --out)")
    p.add_argument("--report-only", action="store_true", help="tabulate and plot the finished runs in --out")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.report_only:
        runs = []
        for name in sorted(os.listdir(args.out)):
            path = os.path.join(args.out, name, "result.json")
            if not name.startswith("pre_s") and os.path.isfile(path):
                with open(path) as f:
                    runs.append(json.load(f))
        report(args, runs)
        return
    train = render_split(args.train_identities, 0, args.frames, args.size, seed=0)
    test = render_split(args.test_identities, 10_000, args.frames, args.size, seed=0)
    print(f"train {train['frames'].shape}, test {test['frames'].shape}", flush=True)
    results = []
    for seed in args.seeds:
        pre = pretrain(args, train, seed) if "pre" in args.inits else None
        for frac in args.fractions:
            for init in [pre] * ("pre" in args.inits) + [None] * ("scratch" in args.inits):
                results.append(finetune(args, train, test, seed, frac, init))
                print(json.dumps(results[-1]), flush=True)
                report(args, results)


if __name__ == "__main__":
    main()
