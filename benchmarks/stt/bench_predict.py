"""File -> prediction time of RGB-token STT against compressed-token STT, in one run.

Both workdirs predict the same video files through ``fer-jax predict`` (the serving path a user runs: decode or
compressed-domain extraction, the face tracker when ``--faces`` is on, the jitted model, the JSON record),
alternating RGB and compressed ``--repeats`` times; each call is a fresh ``predict`` in this process, so its
time includes jit compilation, as a user's call does. Prints per workdir the best time over the repeats,
files/s, and the ratio RGB time / compressed time.

    python benchmarks/stt/bench_predict.py --rgb W/stt_s0 --compressed W/compressed_s0 --files SRC/videos/*.mp4 \
        --limit 40 --faces off
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _time(workdir: str, files: list[str], faces: str, out: Path) -> float:
    from fer_jax import cli

    t0 = time.perf_counter()
    status = cli.main(["predict", *files, "--workdir", workdir, "--out", str(out), "--faces", faces])
    seconds = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"fer-jax predict --workdir {workdir} exited {status}")
    bad = [r for r in json.loads(out.read_text())["predictions"] if r["status"] not in ("ok", "no_face")]
    if bad:
        raise SystemExit(f"{workdir}: {len(bad)} files failed, e.g. {bad[0]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rgb", required=True, help="an STT workdir with RGB tokens")
    p.add_argument("--compressed", required=True, help="an STT workdir with compressed tokens")
    p.add_argument("--files", nargs="+", required=True)
    p.add_argument("--limit", type=int, default=40, help="the first N files (sorted)")
    p.add_argument("--faces", choices=("auto", "on", "off"), default="off")
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args(argv)
    files = sorted(a.files)[:a.limit]
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.repeats):
            for name, wd in (("rgb", a.rgb), ("compressed", a.compressed)):
                s = _time(wd, files, a.faces, Path(tmp) / f"{name}.json")
                best[name] = min(best.get(name, s), s)
    row = {"files": len(files), "faces": a.faces, "repeats": a.repeats,
           **{f"{k}_seconds": round(v, 2) for k, v in best.items()},
           **{f"{k}_files_per_s": round(len(files) / v, 2) for k, v in best.items()},
           "rgb_over_compressed": round(best["rgb"] / best["compressed"], 2)}
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
