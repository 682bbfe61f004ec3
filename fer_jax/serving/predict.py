"""Predictions on raw files: a serving function (``fer_jax.serving.predictor``, a reference model) over files
prepared by ``fer_jax.serving.prepare`` (or per face track, ``fer_jax.serving.face_inputs``) -> JSON-able
records. The logic behind ``fer-jax predict`` (``fer_jax.commands.predict`` is its command line).

One loop for every case (:func:`predict_many`): ``workers`` > 1 prepares files (decoding, extraction, face
tracking) in spawned processes while this process runs the model; ``workers`` <= 1 prepares them here, the
same loop. Records keep the input order; a file that cannot be prepared is a ``failed`` record naming it,
one without a face (face tracking on) a ``no_face`` record.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

import numpy as np

MAX_ROWS = 64  # rows per model call; a clip's timeline can be long
# Datasets whose builders crop the tracked face (data_pipelines.common.face_crop_builder.FaceCropBuilder): a
# model trained on one is served per face track by default. A test keeps this list equal to the builders'.
# SynthFace crops the face in its wild builds only (its lab builds are whole frames: face_inputs.face_framing).
FACE_DATASETS = ("ckplus", "oulu_casia", "mmi", "dfew", "afew", "synthface")
NO_FACE = {"status": "no_face", "reason": "no face found by the face tracker"}


def prepare_file(path: str, spec, segments: int | None = None, face: Any = None) -> list:
    """One file -> its :class:`~fer_jax.serving.prepare.Prepared` inputs: one, or one per face track with
    ``face`` (a ``data_pipelines.faces.FaceSettings``; [] when no face is found). Raises ``InputError``."""
    from fer_jax.serving.prepare import InputError, prepare

    if os.path.isdir(path):
        raise InputError(path, "a folder with no video or image files")
    if face is None:
        return [prepare(path, spec, segments)]
    from fer_jax.serving.face_inputs import prepare_faces

    return prepare_faces(path, spec, face, segments)


def prepare_job(job: tuple) -> tuple[str, Any, float]:
    """Worker side of :func:`predict_many`: (path, spec, segments, face) -> ("ok", [Prepared], seconds) or
    ("failed", message, seconds). Errors travel as text: the typed error is rebuilt by the caller."""
    from fer_jax.serving.prepare import InputError

    path, spec, segments, face = job
    t0 = time.perf_counter()
    try:
        return "ok", prepare_file(path, spec, segments, face), time.perf_counter() - t0
    except InputError as e:
        return "failed", str(e), time.perf_counter() - t0


def predict_many(paths: list[str], spec, predict_fn: Callable, names: tuple[str, ...], segments: int | None,
                 face: Any, workers: int) -> tuple[list[dict[str, Any]], int]:
    """Every file through ``workers`` processes (preparation; <= 1: this process, a plain loop) and this
    process (the model), in input order, at most 2 x workers files in flight; a progress bar (on a
    terminal) and a throughput line on stderr. Returns (records, number of failed files)."""
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
            recs = records_of(path, value, spec, predict_fn, names)
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


def records_of(path: str, preps: list, spec, predict_fn: Callable, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """A file's prepared inputs -> its records: one per :class:`Prepared`, or one ``no_face`` record."""
    return [record_of(path, p, spec, predict_fn, names) for p in preps] or [{"input": path, **NO_FACE}]

