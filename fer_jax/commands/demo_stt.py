"""``fer-jax demo stt``: STT against the frame-averaged ResNet on SynthFace-wild, end to end, with a report,
and whether STT's temporal attention looks at the frames that show the expression.

Stages (each skipped when its output already exists, so an interrupted demo resumes):

1. render SynthFace, wild regime (DFEW-like movie frames at ``WILD_RENDER_SCALE`` × the build size);
2. build the TFDS set with decoded frames (the tracked face cropped from each frame), as
   ``fer-jax build synthface --regime wild --store-frames`` does;
3. train STT (``configs/stt/synthface_wild.py:tiny``) and the frame-averaged ResNet
   (``configs/rgb_baseline/synthface_wild.py:tiny``) with the shared trainer: same data, steps and seed;
4. evaluate both on the test split (identities never seen in training);
5. STT's per-frame importance by temporal attention rollout on the test clips, and its share on the frames
   showing the expression against uniform attention (``fer_jax/methods/stt/attention.py``);
6. write ``report.json`` and ``report.md`` with the figures (``demo_stt_report.py``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

from data_pipelines.atomic import atomic_write_json
from fer_jax.commands.demo_common import Stage, dataset_summary, quiet_logging, train_stage
from fer_jax.core.settings import apply_overrides

# Provisional sizes, in this one place: the final defaults are to be set from measurements (CPU time of the
# whole demo against how far the models get), so change them here and nowhere else.
DEFAULTS = dict(workdir="runs/demo_stt", identities=200, frames=16, size=48, steps=3000, seed=0)
QUICK = dict(identities=8, frames=12, size=32, steps=6)  # --quick: a smoke run (tests, a first look)
RUNS = {  # run name -> (title, config file)
    "stt": ("STT (spatial → temporal attention)", "configs/stt/synthface_wild.py"),
    "baseline": ("frame-averaged ResNet", "configs/rgb_baseline/synthface_wild.py"),
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-jax demo stt", description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default=DEFAULTS["workdir"], help=f"where everything goes ({DEFAULTS['workdir']})")
    p.add_argument("--identities", type=int, default=None,
                   help=f"SynthFace identities, split 70/15/15 into train/val/test ({DEFAULTS['identities']})")
    p.add_argument("--frames", type=int, default=None,
                   help=f"mean frames per clip (wild clips vary by ±25 %%; {DEFAULTS['frames']})")
    p.add_argument("--size", type=int, default=None,
                   help=f"face-crop size the models see, a multiple of 16 ({DEFAULTS['size']})")
    p.add_argument("--steps", type=int, default=None, help=f"training steps of each run ({DEFAULTS['steps']})")
    p.add_argument("--seed", type=int, default=None, help=f"data and training seed ({DEFAULTS['seed']})")
    p.add_argument("--workers", type=int, default=None, help="processes for rendering and the build (all cores)")
    p.add_argument("--quick", action="store_true", help="a tiny smoke-sized demo (tests, first look)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field of both runs as fer-jax train's --config.KEY=VALUE does; "
                        "'stt:KEY=VALUE' or 'baseline:KEY=VALUE' for one run only")
    return p


def _fill_defaults(args: argparse.Namespace) -> None:
    sizes = {**DEFAULTS, **(QUICK if args.quick else {})}
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def run_overrides(args: argparse.Namespace, run_name: str) -> list[str]:
    """The ``--set`` items of one run (``input.size`` first: the tiny config's is 32)."""
    items = [f"input.size={args.size}"]
    for item in args.set:
        prefix, sep, rest = item.partition(":")
        if sep and prefix in RUNS and "=" not in prefix:
            if prefix == run_name:
                items.append(rest)
        else:
            items.append(item)
    return items


def config_arg(args: argparse.Namespace, data_dir: Path) -> str:
    if "," in str(data_dir):
        raise ValueError(f"the demo's paths may not contain ',': {data_dir}")
    return f"tiny,seed={args.seed},steps={args.steps},data_dir={data_dir}"


def train_config(args: argparse.Namespace, run_name: str, data_dir: Path):
    """The run's config as ``fer-jax train --config=<file>:<config_arg> --config.KEY=VALUE ...`` builds it."""
    from configs.rgb_baseline import synthface_wild as baseline_config
    from configs.stt import synthface_wild as stt_config

    module = stt_config if run_name == "stt" else baseline_config
    c = module.get_config(config_arg(args, data_dir))
    apply_overrides(c, run_overrides(args, run_name))
    c.progress_bar = sys.stderr.isatty()
    return c


def train_command(args: argparse.Namespace, run_name: str, data_dir: Path, run_dir: Path) -> str:
    return (f"fer-jax train --config={RUNS[run_name][1]}:{config_arg(args, data_dir)} "
            + "".join(f"--config.{item} " for item in run_overrides(args, run_name)) + f"--workdir={run_dir}")


def prepare_data(args: argparse.Namespace, work: Path, report: dict) -> Path:
    """Stages 1-2: render the wild set, build its TFDS ``_frames`` build. Returns the TFDS data dir."""
    from data_pipelines.synthface_tfds.builder import WILD_RENDER_SCALE

    synth_dir, tfds_dir = work / "synthface", work / "tfds"
    with Stage(report, "render SynthFace (wild)", synth_dir / "labels.jsonl") as st:
        if not st.done:
            from data_pipelines.synthface import generate

            generate(synth_dir, identities=args.identities, clips_per_identity=1, regime="wild",
                     frames=args.frames, size=args.size * WILD_RENDER_SCALE, seed=args.seed, pool_identities=0,
                     workers=args.workers, progress=True)
    report["dataset"] = dataset_summary(synth_dir)
    with Stage(report, "build TFDS (face crops, frames)", work / "tfds.done.json") as st:
        if not st.done:
            from data_pipelines.synthface_tfds.builder import SynthFace
            from fer_jax.identity import get_backbone

            backbone = "dlib"  # the configs' identity_backbone; neither model reads the embedding
            cfg = SynthFace.make_config(size=args.size, identity_backbone=backbone, store_frames=True,
                                        identities=args.identities, clips_per_identity=1, frames=args.frames,
                                        regime="wild", seed=args.seed)
            builder = SynthFace(config=cfg, data_dir=str(tfds_dir), source_dir=synth_dir,
                                workers=args.workers or os.cpu_count() or 1,
                                backbone_factory=functools.partial(get_backbone, backbone))
            builder.download_and_prepare()
            splits = {k: v.num_examples for k, v in builder.info.splits.items()}
            atomic_write_json(work / "tfds.done.json", {"skipped": builder.skipped, "splits": splits,
                                                        "detector": builder.FACE_CROP.detector})
    report["tfds"] = json.loads((work / "tfds.done.json").read_text())
    return tfds_dir


def train_and_evaluate(args: argparse.Namespace, work: Path, run_name: str, tfds_dir: Path, report: dict) -> dict:
    """Stages 3-4 for one run into ``work / run_name``: train, then the test report of the checkpoint
    chosen on validation (the best ``val/uar``)."""
    config = train_config(args, run_name, tfds_dir)
    run_dir = work / run_name
    report.setdefault("train_commands", {})[run_name] = train_command(args, run_name, tfds_dir, run_dir)
    train_stage(report, run_name, config, run_dir)
    with Stage(report, f"evaluate {run_name}", run_dir / "test_report.json") as st:
        if not st.done:
            from fer_jax.evaluate import plots
            from fer_jax.evaluate.runner import evaluate

            res = evaluate(config, str(run_dir), "test", checkpoint="best")
            plots.confusion_png(res["confusion"], list(config.class_names), str(run_dir / "confusion_test.png"))
            keep = {k: res[k] for k in ("war", "uar", "per_class_recall", "confusion", "step", "checkpoint",
                                        "num_examples") if k in res}
            atomic_write_json(run_dir / "test_report.json", keep)
    return json.loads((run_dir / "test_report.json").read_text())


def attention_share(args: argparse.Namespace, work: Path, tfds_dir: Path, report: dict) -> dict:
    """Stage 5: per-frame importance of STT's test clips and the expression share (attention.py)."""
    path = work / "stt" / "attention.json"
    with Stage(report, "attention share (stt)", path) as st:
        if not st.done:
            from data_pipelines.synthface.facs import EXPRESSIONS
            from fer_jax.methods.stt.attention import collect, expression_share

            arrays = collect(str(work / "stt"), train_config(args, "stt", tfds_dir), "test", checkpoint="best")
            share = expression_share(arrays["importance"], arrays["intensity"], arrays["label"],
                                     neutral=EXPRESSIONS.index("neutral"))
            share["clips_arrays"] = {k: v.tolist() for k, v in arrays.items()}
            atomic_write_json(path, share)
    return json.loads(path.read_text())


def run(args: argparse.Namespace) -> dict:
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"args": vars(args)}
    tfds_dir = prepare_data(args, work, report)
    report["runs"] = {name: train_and_evaluate(args, work, name, tfds_dir, report) for name in RUNS}
    share = attention_share(args, work, tfds_dir, report)
    report["attention"] = {k: v for k, v in share.items() if k not in ("per_clip", "clips_arrays")}
    atomic_write_json(work / "report.json", report)
    from fer_jax.commands.demo_stt_report import write_report

    write_report(work, report, share, {name: title for name, (title, _) in RUNS.items()})
    return report


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    _fill_defaults(args)
    if args.size % 16:
        print(f"fer-jax demo stt: --size must be a multiple of 16, got {args.size}", file=sys.stderr)
        return 2
    quiet_logging()
    report = run(args)
    print(f"[demo] report: {Path(args.workdir).resolve() / 'report.md'}")
    for name, res in report["runs"].items():
        print(f"[demo] {RUNS[name][0]}: test WAR {res['war']:.3f} UAR {res['uar']:.3f}")
    a = report["attention"]
    if a["clips"]:
        print(f"[demo] STT's importance on the expressive frames: {a['share_mean']:.3f} ± {a['share_sd']:.3f} "
              f"(uniform {a['uniform_mean']:.3f} ± {a['uniform_sd']:.3f}; {a['clips']} test clips)")
    return 0
