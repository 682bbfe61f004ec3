"""SynthFace speed: render-only frames/s and end-to-end (render + encode + labels) frames/s.

    python benchmarks/bench_synthface.py                 # demo size: 40 ids x 7 x 2 clips x 32 x 112²
    python benchmarks/bench_synthface.py --identities 8 --regime wild

The end-to-end figure includes the identity pool (``--pool-identities``, default 100 x 8 stills).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_pipelines.synthface import generate, make_identity, render_clip  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--identities", type=int, default=40)
    p.add_argument("--clips-per-identity", type=int, default=2)
    p.add_argument("--regime", choices=("lab", "wild"), default="lab")
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--pool-identities", type=int, default=100)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--render-clips", type=int, default=28, help="clips for the render-only figure")
    args = p.parse_args(argv)

    t0, c0 = time.perf_counter(), time.process_time()
    n_frames = 0
    for k in range(args.render_clips):
        frames, _ = render_clip(make_identity(k % 7), k % 7, args.regime, args.frames, args.size, seed=k)
        n_frames += len(frames)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    # CPU time is reported too: on a shared machine it is the figure that does not depend on load.
    print(f"render only ({args.regime}, {args.size}², 1 process): {n_frames / dt:.0f} frames/s "
          f"({1000 * dt / n_frames:.2f} ms/frame wall, {1000 * cpu / n_frames:.2f} ms/frame CPU)")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = generate(tmp, identities=args.identities, clips_per_identity=args.clips_per_identity,
                          regime=args.regime, frames=args.frames, size=args.size,
                          pool_identities=args.pool_identities, workers=args.workers)
        dt = time.perf_counter() - t0
        import json

        total = sum(json.loads(line)["n_frames"] for line in open(os.path.join(tmp, "labels.jsonl")))
    workers = args.workers or os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"generate ({result.n_clips} clips, {total} frames, {result.n_pool_images} pool images, "
          f"{workers} workers): {dt:.1f} s, {total / dt:.0f} frames/s end to end "
          f"(1-min load average {load:.1f} on {os.cpu_count()} cores)")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
