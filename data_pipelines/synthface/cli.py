"""``fer-jax synthface``: render the SynthFace dataset (or its contact sheet) to a folder."""

from __future__ import annotations

import argparse
import sys

from data_pipelines.synthface.facs import SynthFaceError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fer-jax synthface",
        description="Render SynthFace: labelled procedural face videos (videos/*.mp4, labels.jsonl, "
                    "identity_pool.npz, identities.json). --clips-per-identity K gives K clips per "
                    "expression per identity, i.e. identities x 7 x K clips.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--identities", type=int, default=40, help="identities in train/val/test")
    p.add_argument("--clips-per-identity", type=int, default=2, help="clips per expression per identity")
    p.add_argument("--regime", choices=("lab", "wild"), default="lab")
    p.add_argument("--head-motion", type=float, default=0.0,
                   help="lab regime: scale of the subject's slow head sway (0 = head fixed, 1 = ~1 px)")
    p.add_argument("--frames", type=int, default=32, help="frames per clip (wild: mean length)")
    p.add_argument("--size", type=int, default=112, help="frame side in pixels (even)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pool-identities", type=int, default=100,
                   help="extra identities reserved for identity-encoder pre-training")
    p.add_argument("--pool-images", type=int, default=8, help="stills per pool identity")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--codec", default="mpeg4", help="mpeg4 (canonical, default) or libx264")
    p.add_argument("--preview", action="store_true",
                   help="only write OUT/synthface_contact_sheet.png (identities x expressions at apex)")
    p.add_argument("--preview-identities", type=int, default=6, help="rows of the contact sheet")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    """Entry point; 0 ok, 1 some clips failed, 2 usage error."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 0 for --help, 2 for bad usage
        return int(exc.code or 0)
    try:
        if args.preview:
            from pathlib import Path

            from data_pipelines.synthface.preview import write_contact_sheet

            path = write_contact_sheet(Path(args.out) / "synthface_contact_sheet.png",
                                       identities=args.preview_identities, regime=args.regime,
                                       size=args.size, frames=args.frames, seed=args.seed)
            print(f"wrote {path}")
            return 0
        from data_pipelines.synthface.dataset import generate

        result = generate(args.out, identities=args.identities,
                          clips_per_identity=args.clips_per_identity, regime=args.regime,
                          frames=args.frames, size=args.size, seed=args.seed,
                          pool_identities=args.pool_identities, pool_images=args.pool_images,
                          workers=args.workers, codec=args.codec, progress=not args.quiet,
                          head_motion=args.head_motion)
    except SynthFaceError as exc:
        print(f"fer-jax synthface: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. an output folder that cannot be created or written
        print(f"fer-jax synthface: cannot write {args.out}: {exc}", file=sys.stderr)
        return 2
    for err in result.errors:
        print(f"fer-jax synthface: failed: {err}", file=sys.stderr)
    print(f"wrote {result.n_clips} clips and {result.n_pool_images} pool images to {result.out_dir}"
          + (f" ({len(result.errors)} failed)" if result.errors else ""))
    return 1 if result.errors else 0
