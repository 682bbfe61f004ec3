"""``fer-jax extract PATH... --out DIR``: video files -> one compressed-domain ``.npz`` per input.

Writes ``DIR/<name>.npz`` atomically and appends one JSON object per attempted input to
``DIR/manifest.jsonl``: ``input``, ``status`` (ok|failed), ``error`` (null or a readable reason),
``output``, ``frames``, ``gops``, plus ``settings`` and ``seconds``. Only this parent process writes the
manifest; workers return records. A re-run of the same command skips inputs whose latest record is ``ok``
with the same settings and whose output still exists, so an interrupted job resumes; failed inputs are
tried again. Exit status: 0 all succeeded, 1 some failed (after every input was tried), 2 usage error.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import glob
import hashlib
import json
import multiprocessing
import os
import sys
import time
from typing import Any

from data_pipelines.faces.detect import DETECTOR_HELP, DETECTORS

MANIFEST = "manifest.jsonl"
_GLOB_CHARS = set("*?[")


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-jax extract", description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", metavar="PATH", help="video files, folders (searched recursively) or globs")
    p.add_argument("--out", required=True, help="output folder for <name>.npz and manifest.jsonl")
    p.add_argument("--size", type=int, default=112, help="square frame size, a multiple of 16 (default 112)")
    p.add_argument("--gop", type=int, default=12, help="frames per GOP: one I-frame + gop-1 P-frames (default 12)")
    p.add_argument("--fps", type=float, default=None, help="output frame rate (default: the source's)")
    p.add_argument("--mode", choices=("accumulate", "frame"), default="accumulate",
                   help="vectors/residuals relative to the I-frame (accumulate) or to the previous frame")
    p.add_argument("--crop-faces", action="store_true", help="crop one stable square around the tracked face")
    p.add_argument("--qscale", type=int, default=2, help="MPEG-4 quantiser of the re-encode, 1 (best) .. 31 (default 2)")
    p.add_argument("--detect-every", type=int, default=5, help="with --crop-faces: detect on every n-th frame (default 5)")
    p.add_argument("--detector", choices=("auto", *DETECTORS), default="auto", help=f"with --crop-faces: {DETECTOR_HELP}")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    return p


def expand_inputs(paths: list[str]) -> list[str]:
    """Files as given, folders recursively (hidden entries skipped), globs expanded; sorted, de-duplicated."""
    found: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(root, f) for f in sorted(files) if not f.startswith(".")]
        elif os.path.exists(p):
            found.append(p)
        elif _GLOB_CHARS & set(p):
            matches = sorted(m for m in glob.glob(p, recursive=True) if os.path.isfile(m))
            if not matches:
                raise UsageError(f"no files match {p!r}")
            found += matches
        else:
            raise UsageError(f"no such file or folder: {p!r}")
    seen, out = set(), []
    for f in found:
        a = os.path.abspath(f)
        if a not in seen:
            seen.add(a)
            out.append(a)
    return out


def output_names(inputs: list[str]) -> dict[str, str]:
    """input -> output file name: the file stem, plus a short path hash where two stems collide."""
    stems = {i: os.path.splitext(os.path.basename(i))[0] for i in inputs}
    counts: dict[str, int] = {}
    for s in stems.values():
        counts[s] = counts.get(s, 0) + 1
    return {
        i: (s if counts[s] == 1 else f"{s}-{hashlib.sha1(i.encode()).hexdigest()[:8]}") + ".npz"
        for i, s in stems.items()
    }


def read_manifest(out_dir: str) -> dict[str, dict]:
    """Latest record per input; unreadable lines (e.g. a torn last line after a crash) are ignored."""
    latest: dict[str, dict] = {}
    path = os.path.join(out_dir, MANIFEST)
    if not os.path.exists(path):
        return latest
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
                latest[rec["input"]] = rec
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return latest


def extract_one(input_path: str, output_path: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Worker: extract and save one input; never raises for a bad input, returns its manifest record."""
    from data_pipelines.compressed import ExtractionError, extract_file, save_clip

    start = time.perf_counter()
    rec: dict[str, Any] = {"input": input_path, "status": "failed", "error": None, "output": None,
                           "frames": 0, "gops": 0, "settings": settings}
    try:
        clip = extract_file(input_path, **settings)
        save_clip(clip, output_path)
        rec.update(status="ok", output=output_path, frames=clip.num_frames, gops=clip.num_gops)
        if "faces" in clip.meta:  # --crop-faces: what the tracker did (face share, tracks, seconds)
            rec["faces"] = {k: clip.meta["faces"][k] for k in ("face_share", "main_track", "seconds")}
            rec["faces"]["tracks"] = len(clip.meta["faces"]["tracks"])
    except ExtractionError as e:
        rec["error"] = e.reason
    except MemoryError:
        rec["error"] = "out of memory while extracting"
    except Exception as e:  # noqa: BLE001 - one bad input must not stop a batch; the reason is recorded
        rec["error"] = f"unexpected {type(e).__name__}: {e}"
    rec["seconds"] = round(time.perf_counter() - start, 3)
    return rec


def _remove_stale_temps(out_dir: str) -> None:
    """Temp files of a killed earlier run (save_clip writes .tmp-*.npz, then renames)."""
    for f in glob.glob(os.path.join(out_dir, ".tmp-*.npz")):
        try:
            os.unlink(f)
        except OSError:
            pass


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    if args.size <= 0 or args.size % 16:
        raise UsageError(f"--size must be a positive multiple of 16, got {args.size}")
    if not 2 <= args.gop <= 600:
        raise UsageError(f"--gop must be in [2, 600], got {args.gop}")
    if not 1 <= args.qscale <= 31:
        raise UsageError(f"--qscale must be in [1, 31], got {args.qscale}")
    if args.detect_every < 1:
        raise UsageError(f"--detect-every must be >= 1, got {args.detect_every}")
    if args.fps is not None and not 0 < args.fps <= 1000:
        raise UsageError(f"--fps must be in (0, 1000], got {args.fps}")
    inputs = expand_inputs(args.paths)
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    _remove_stale_temps(out_dir)
    settings = {"size": args.size, "gop": args.gop, "fps": args.fps, "mode": args.mode,
                "crop_faces": bool(args.crop_faces), "qscale": args.qscale}
    if args.crop_faces:
        from data_pipelines.faces.detect import default_detector

        settings["detect_every"] = args.detect_every
        settings["detector"] = default_detector() if args.detector == "auto" else args.detector
    names = output_names(inputs)
    done = read_manifest(out_dir)
    todo = []
    for i in inputs:
        out = os.path.join(out_dir, names[i])
        prev = done.get(i)
        if prev and prev.get("status") == "ok" and prev.get("settings") == settings and os.path.exists(out):
            continue
        todo.append((i, out))
    skipped = len(inputs) - len(todo)
    if skipped:
        print(f"extract: {skipped} of {len(inputs)} inputs already done, skipping them", file=sys.stderr)
    failed = 0
    from tqdm import tqdm

    with open(os.path.join(out_dir, MANIFEST), "a", encoding="utf-8") as manifest, \
            tqdm(total=len(todo), desc="extract", unit="clip", disable=None) as bar:

        def record(rec: dict) -> None:
            nonlocal failed
            failed += rec["status"] != "ok"
            manifest.write(json.dumps(rec) + "\n")
            manifest.flush()
            bar.update(1)
            if rec["status"] != "ok":
                tqdm.write(f"extract: FAILED {rec['input']}: {rec['error']}", file=sys.stderr)

        if args.workers == 1 or len(todo) <= 1:
            for i, out in todo:
                record(extract_one(i, out, settings))
        else:
            ctx = multiprocessing.get_context("spawn")  # no fork of a parent that may hold threads
            with cf.ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
                futures = {pool.submit(extract_one, i, out, settings): i for i, out in todo}
                for fut in cf.as_completed(futures):
                    try:
                        rec = fut.result()
                    except Exception as e:  # noqa: BLE001 - e.g. a worker killed by the OS
                        rec = {"input": futures[fut], "status": "failed", "output": None, "frames": 0,
                               "gops": 0, "settings": settings,
                               "error": f"worker process failed ({type(e).__name__}: {e})"}
                    record(rec)
    ok = len(todo) - failed
    print(f"extract: {ok} ok, {failed} failed, {skipped} skipped -> {out_dir}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # argparse: 0 for --help, 2 for usage errors
        return int(e.code or 0)
    try:
        return run(args)
    except UsageError as e:
        print(f"fer-jax extract: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
