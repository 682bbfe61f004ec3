"""``fer-jax build DATASET --data-dir D [--manual-dir M] ...``: build one fer-jax TFDS dataset.

Exit status: 0 built with every input, 1 built but some inputs were corrupt and skipped (listed at
the end), 2 usage error (unknown dataset, bad options, missing or incomplete manual_dir).

This is where ``--identity-backbone`` becomes an embedder (``fer_jax.identity``): the builders in
``data_pipelines`` know no model and get it injected, with a picklable factory for worker processes.
"""

from __future__ import annotations

import argparse
import functools
import sys

from data_pipelines.common.registry import BUILDERS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-jax build", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=sorted(BUILDERS), help="dataset to build")
    p.add_argument("--data-dir", required=True, help="TFDS data_dir to write into")
    p.add_argument("--manual-dir", help="folder holding the hand-downloaded dataset (see its instructions)")
    p.add_argument("--size", type=int, default=112, help="square frame size (default 112)")
    p.add_argument("--gop", type=int, default=12, help="GOP length of the canonical stream (default 12)")
    p.add_argument("--mode", choices=("accumulate", "frame"), default="accumulate")
    p.add_argument("--identity-backbone", default="dlib", help="'dlib' or 'flax:<checkpoint_dir>'")
    p.add_argument("--store-frames", action="store_true",
                   help="also store the decoded RGB frames (JPEG, one per frame) for frame-based methods; "
                        "a separate build (config name ends in _frames), video datasets only")
    p.add_argument("--detector", choices=("auto", "mtcnn", "hog", "cnn"), default="auto",
                   help="builders that crop the tracked face: mtcnn, hog or cnn (default auto: mtcnn when "
                        "facenet-pytorch's weights are installed, else hog)")
    p.add_argument("--workers", type=int, default=1, help="local generation processes (default 1)")
    p.add_argument("--beam-runner", help="Apache Beam runner name (e.g. DirectRunner) for distributed "
                   "generation of the large datasets (dfew, affectnet); needs apache-beam")
    p.add_argument("--protocol", choices=("fera", "folds"), default="fera",
                   help="bp4d only: the FERA 2015 train/development partition (+ a carved val; default) or 3 "
                        "subject-independent folds (a separate build, config name ends in _folds)")
    g = p.add_argument_group("synthface")
    g.add_argument("--source-dir", help="a directory written by `fer-jax synthface` (else it is generated)")
    g.add_argument("--identities", type=int, default=40)
    g.add_argument("--clips-per-identity", type=int, default=2)
    g.add_argument("--frames", type=int, default=32)
    g.add_argument("--regime", choices=("lab", "wild"), default="lab")
    g.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    if args.protocol != "fera" and args.dataset != "bp4d":
        print(f"fer-jax build {args.dataset}: --protocol applies to bp4d only", file=sys.stderr)
        return 2
    if args.size % 4 or args.size < 16:
        print(f"fer-jax build: --size must be a multiple of 4 and >= 16, got {args.size}", file=sys.stderr)
        return 2
    from data_pipelines.common.manual import ManualDirError
    from data_pipelines.common.registry import builder_class
    from data_pipelines.tf_compat import import_tfds
    from fer_jax.identity import get_backbone

    tfds = import_tfds()
    cls = builder_class(args.dataset)
    kwargs = {}
    try:
        if args.dataset == "synthface":
            config = cls.make_config(args.size, args.gop, args.mode, args.identity_backbone, args.store_frames,
                                     identities=args.identities, clips_per_identity=args.clips_per_identity,
                                     frames=args.frames, regime=args.regime, seed=args.seed)
            kwargs["source_dir"] = args.source_dir
        elif args.dataset == "bp4d":
            config = cls.make_config(args.size, args.gop, args.mode, args.identity_backbone, args.store_frames,
                                     protocol=args.protocol)
        else:
            config = cls.make_config(args.size, args.gop, args.mode, args.identity_backbone, args.store_frames)
    except (ValueError, FileNotFoundError) as e:  # --store-frames on stills, a missing encoder checkpoint
        print(f"fer-jax build {args.dataset}: {e}", file=sys.stderr)
        return 2
    from data_pipelines.common.face_crop_builder import FaceCropBuilder

    if issubclass(cls, FaceCropBuilder):
        kwargs["face_detector"] = args.detector
    elif args.detector != "auto":
        print(f"fer-jax build {args.dataset}: --detector is for the builders that crop the tracked face",
              file=sys.stderr)
        return 2
    download_config = tfds.download.DownloadConfig(manual_dir=args.manual_dir, beam_runner=args.beam_runner)
    # The factory (a module function + the spec) pickles, so worker processes make their own embedder.
    factory = functools.partial(get_backbone, args.identity_backbone)
    try:
        builder = cls(data_dir=args.data_dir, config=config, workers=args.workers, backbone_factory=factory,
                      **kwargs)
        builder.download_and_prepare(download_config=download_config)
    except ManualDirError as e:
        print(f"fer-jax build: {e}", file=sys.stderr)
        return 2
    except (ImportError, ValueError) as e:  # backbone/beam/MTCNN weights not installed, bad backbone spec
        print(f"fer-jax build {args.dataset}: {e}", file=sys.stderr)
        return 2
    splits = ", ".join(f"{k}={v.num_examples}" for k, v in builder.info.splits.items())
    print(f"built {args.dataset} ({config.name}) in {builder.data_dir}: {splits}")
    if builder.skipped:
        print(f"{len(builder.skipped)} input(s) skipped:", file=sys.stderr)
        for s in builder.skipped:
            print(f"  {s['error'] if s['error'].startswith(s['path']) else s['path'] + ': ' + s['error']}",
                  file=sys.stderr)
        return 1
    return 0
