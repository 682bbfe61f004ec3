"""``fer-jax au VIDEO... --workdir DIR --out OUT``: per-frame AU intensities of videos, as OpenFace CSVs.

With one video ``--out`` is the CSV file; with several it is a folder holding ``<video stem>.csv`` per
video. Each CSV gets a PNG beside it (same stem) of the intensities over time (``--no-plot`` skips it).
Columns and row rules: ``fer_jax/methods/au/infer.py``. One JSON line per video on stdout:
``{"input", "status", "frames", "faces", "frames_with_face", "csv", "png"}`` (or ``"error"``).

Statuses and exit codes (batch runs go past a bad input and report it):

* ``ok``      - faces found; exit 0 when every input is ``ok``;
* ``no_face`` - readable, but no face in any frame: the CSV has one ``success=0`` row per frame and the
  PNG says so; exit 3 when no input failed but one or more had no face;
* ``failed``  - unreadable (missing file, no video stream, undecodable): nothing is written for it;
  exit 1 when any input failed;
* exit 2: usage error (bad arguments, a workdir that is not a stage-2 AU run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from data_pipelines.faces.detect import DETECTOR_HELP, DETECTORS

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_FACE = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-jax au", description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="+", help="video files")
    p.add_argument("--workdir", required=True, help="a trained au_intensity workdir (stage 2)")
    p.add_argument("--out", required=True, help="CSV file (one video) or folder (several videos)")
    p.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    p.add_argument("--detector", choices=("auto", *DETECTORS), default="auto", help=DETECTOR_HELP)
    p.add_argument("--every", type=int, default=5, help="detect faces on every n-th frame (tracked between)")
    p.add_argument("--batch", type=int, default=8, help="windows per model call")
    p.add_argument("--no-plot", action="store_true", help="write no PNG")
    return p


def _targets(videos: list[str], out: str) -> list[str]:
    if len(videos) == 1 and not os.path.isdir(out):
        return [out]
    os.makedirs(out, exist_ok=True)
    stems = [os.path.splitext(os.path.basename(v))[0] for v in videos]
    seen: dict[str, int] = {}
    names = []
    for s in stems:  # two inputs with one stem must not overwrite each other
        seen[s] = seen.get(s, 0) + 1
        names.append(os.path.join(out, f"{s}.csv" if seen[s] == 1 else f"{s}_{seen[s]}.csv"))
    return names


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from data_pipelines.faces import FaceSettings
    from fer_jax.methods.au.infer import AuPredictor, VideoError, write_csv, write_plot

    try:
        predictor = AuPredictor(args.workdir, args.checkpoint, FaceSettings(detector=args.detector, every=args.every).resolved(),
                                batch=args.batch)
    except (FileNotFoundError, ValueError, ImportError) as e:  # ImportError: --detector mtcnn, no weights
        print(f"fer-jax au: {e}", file=sys.stderr)
        return EXIT_USAGE
    failed = no_face = 0
    for video, csv in zip(args.videos, _targets(args.videos, args.out)):
        record = {"input": video}
        try:
            cols, summary = predictor.columns(video)
        except (VideoError, OSError) as e:
            failed += 1
            record.update(status="failed", error=str(e))
            print(json.dumps(record), flush=True)
            continue
        status = "ok" if summary["faces"] else "no_face"
        no_face += status == "no_face"
        parent = os.path.dirname(os.path.abspath(csv))
        os.makedirs(parent, exist_ok=True)
        write_csv(csv, cols)
        record.update(status=status, frames=summary["frames"], faces=summary["faces"],
                      frames_with_face=summary["frames_with_face"], csv=csv)
        if not args.no_plot:
            png = os.path.splitext(csv)[0] + ".png"
            title = f"{os.path.basename(video)}: AU intensity ({args.workdir}, step {predictor.step})"
            write_plot(png, cols, predictor.au_columns, title)
            record["png"] = png
        print(json.dumps(record), flush=True)
    if failed:
        return EXIT_FAILED
    return EXIT_NO_FACE if no_face else EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
