"""The ``fer-jax`` command: a thin dispatcher to one module per subcommand.

Each subcommand lives in the package that owns it and is imported only when called, so
``fer-jax extract`` never pays for importing JAX and ``fer-jax train`` never imports PyAV.
A subcommand module exposes ``main(argv: list[str]) -> int``; its return value is the exit status
(0 success, 1 some inputs failed, 2 usage error).
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, one-line help). Modules are imported lazily.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "extract": ("data_pipelines.compressed.cli", "video files -> I-frames, motion vectors, residuals (.npz)"),
    "synthface": ("data_pipelines.synthface.cli", "render the SynthFace procedural face-video dataset"),
    "build": ("fer_jax.commands.build", "build a TFDS dataset (compressed-domain tensors, optionally decoded frames)"),
    "train": ("fer_jax.commands.train", "train a model from a config (--config=configs/...)"),
    "eval": ("fer_jax.commands.eval", "evaluate a trained workdir"),
    "cv": ("fer_jax.commands.cv", "train and evaluate every fold of a k-fold config; cv.md/cv.json tables"),
    "au": ("fer_jax.commands.au", "per-frame AU intensities of videos -> OpenFace-style CSV + PNG"),
    "predict": ("fer_jax.commands.predict", "a trained method's predictor on video or image files -> JSON records"),
    "export": ("fer_jax.commands.export", "export a trained model for serving"),
    "demo": ("fer_jax.commands.demo", "the end-to-end SynthFace demo (generate, extract, train, audit, report); `demo stt`: STT"),
    "convert-stylegan2": ("fer_jax.models.stylegan2.convert", "rosinality StyleGAN2 .pt -> init_from weights dir"),
    "invert": ("fer_jax.commands.invert", "an IFER inversion run on face images -> input | reconstruction PNG"),
}


def _usage() -> str:
    lines = ["usage: fer-jax <command> [options]", "", "commands:"]
    width = max(len(k) for k in SUBCOMMANDS)
    for name, (_, help_) in SUBCOMMANDS.items():
        lines.append(f"  {name.ljust(width)}  {help_}")
    lines.append("")
    lines.append("Run 'fer-jax <command> --help' for a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from fer_jax import __version__

        print(f"fer-jax {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"fer-jax: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    status = module.main(rest)
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
