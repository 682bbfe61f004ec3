"""``fer-jax predict VIDEO... --workdir DIR``: residual-only expression inference on raw video files.

Each video goes through the same compressed-domain extraction as training (canonical MPEG-4, GOP and
size from the run's config); only residuals (and motion vectors, if the model was trained with them)
reach the model: no RGB frame and no identity network at test time. Output: one JSON object per
video with the class probabilities of the whole clip (K evaluation segments, as in validation) and a
per-GOP timeline (each GOP's own P-frames), or the reason it failed. Exit 0 when every video was
predicted, 1 when some failed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-jax predict", description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files (any format PyAV opens)")
    p.add_argument("--workdir", required=True, help="a training workdir (config.json + checkpoints)")
    p.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    p.add_argument("--out", default="-", help="output JSON file (default: stdout)")
    p.add_argument("--segments", type=int, default=None, help="segments per clip (default: the config's)")
    return p


def predict_video(path: str, restored, predict_fn, segments: int) -> dict[str, Any]:
    """Extraction + model on one file -> the JSON-able record (``status`` ok)."""
    from data_pipelines.compressed import extract_file
    from fer_jax.inference import clip_inputs, gop_inputs

    icfg = restored.config.input
    t0 = time.perf_counter()
    clip = extract_file(path, size=int(icfg.size), gop=int(icfg.get("gop", 12)), mode=icfg.get("mode", "accumulate"))
    whole = clip_inputs(clip.frame_types, clip.residuals, clip.motion_vectors, segments)
    per_gop = gop_inputs(clip.frame_types, clip.residuals, clip.motion_vectors, segments)
    batch = {k: np.concatenate([whole[k][None], per_gop[k]]) for k in whole}
    probs = predict_fn(batch)
    names = list(restored.config.get("class_names") or range(probs.shape[-1]))
    named = lambda p: {str(n): round(float(v), 6) for n, v in zip(names, p)}  # noqa: E731
    fps = float(clip.meta.get("fps") or 25.0)
    timeline = []
    for g in range(clip.frame_types.shape[0]):
        valid = clip.pts[g][clip.frame_types[g] > 0]
        timeline.append({"gop": g, "start_s": round(float(valid.min()) / fps, 3),
                         "end_s": round(float(valid.max() + 1) / fps, 3),
                         "prediction": str(names[int(np.argmax(probs[g + 1]))]), "probabilities": named(probs[g + 1])})
    return {"input": path, "status": "ok", "prediction": str(names[int(np.argmax(probs[0]))]),
            "probabilities": named(probs[0]), "gops": int(clip.frame_types.shape[0]),
            "frames": int(clip.meta.get("n_frames", 0)), "seconds": round(time.perf_counter() - t0, 3),
            "timeline": timeline}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not os.path.isfile(os.path.join(args.workdir, "config.json")):
        print(f"fer-jax predict: {args.workdir}: no config.json; is it a training workdir?", file=sys.stderr)
        return 2
    from data_pipelines.compressed import ExtractionError
    from fer_jax.inference import make_predict_fn, restore

    restored = restore(args.workdir, args.checkpoint)
    predict_fn = make_predict_fn(restored)
    segments = args.segments or int(restored.config.input.get("segments", 3))
    records, failed = [], 0
    for path in args.videos:
        try:
            records.append(predict_video(path, restored, predict_fn, segments))
        except (ExtractionError, OSError) as e:
            failed += 1
            records.append({"input": path, "status": "failed", "error": str(e)})
    out = {"workdir": os.path.abspath(args.workdir), "checkpoint": restored.checkpoint, "step": restored.step,
           "predictions": records}
    text = json.dumps(out, indent=2)
    if args.out == "-":
        print(text)
    else:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, args.out)
    return 1 if failed else 0
