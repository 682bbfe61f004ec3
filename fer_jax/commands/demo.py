"""``fer-jax demo``: the whole MI-FER pipeline on SynthFace, end to end, with a report
(``fer-jax demo stt``: STT on SynthFace-wild, ``fer_jax/commands/demo_stt.py``).

Stages (each skipped when its output already exists, so an interrupted demo resumes):

1. render SynthFace (lab regime: neutral → apex onsets, apex annotated) as real MPEG-4 video files,
   plus a pool of reserved identities;
2. pre-train the Flax identity encoder (ArcFace) on the reserved identities only — the embedded
   stand-in for a real face-recognition network;
3. build the TFDS dataset: compressed-domain extraction of every clip + the identity embedding of its
   I-frame by the frozen encoder of stage 2;
4. train MI-FER twice with the shared trainer: λ > 0 (the min-min game) and λ = 0 (the baseline);
5. evaluate both on the test split (identities never seen in training): WAR, UAR, confusion matrix,
   and the identity audit (probes predicting identity from frozen expression features);
6. write ``report.json`` and ``report.md`` with the plots.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from data_pipelines.atomic import atomic_write, atomic_write_json
from fer_jax.commands.demo_common import Stage, dataset_summary, quiet_logging, train_stage
from fer_jax.core.settings import apply_overrides

log = logging.getLogger("fer_jax.commands.demo")

# More test identities than the generator's default 70/15/15: the identity audit's probes need several
# unseen identities (24 of 80) to tell "identity is readable" from chance. Training identities keep one
# clip per expression (--train-clips 1), test identities two: for the same training set size, twice the
# training identities (48) is what lets the game's identity invariance carry over to unseen identities
# (with 24 it removed identity from the training identities' features, much less from unseen ones).
SPLIT_FRACTIONS = (0.6, 0.1, 0.3)
RUNS = {"mi_fer": "MI-FER (λ > 0)", "baseline": "baseline (λ = 0)"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-jax demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="runs/demo", help="where everything is written (default: runs/demo)")
    p.add_argument("--identities", type=int, default=80, help="SynthFace identities in train/val/test")
    p.add_argument("--clips-per-identity", type=int, default=2, help="clips per identity and expression")
    p.add_argument("--frames", type=int, default=None,
                   help="frames per clip (default: configs/mi_fer/demo.py's DATA: one GOP of 12)")
    p.add_argument("--size", type=int, default=None,
                   help="frame size the models see (multiple of 16; default: configs/mi_fer/demo.py's)")
    p.add_argument("--head-motion", type=float, default=None,
                   help="subjects' slow head sway (SynthFace lab regime; 0 = head fixed): it puts the face "
                        "outline, hair and glasses, i.e. identity, into the residuals (default: the config's)")
    p.add_argument("--expressions-per-identity", type=int, default=7,
                   help="expressions each training identity shows (7 = all); CK+-like sparse coverage")
    p.add_argument("--train-clips", type=int, default=1,
                   help="clips per expression kept for training identities (0 = all of --clips-per-identity); "
                        "val/test identities keep every clip, which the identity audit needs")
    p.add_argument("--pool-identities", type=int, default=60, help="reserved identities for the identity encoder")
    p.add_argument("--id-steps", type=int, default=300, help="identity-encoder pre-training steps")
    p.add_argument("--steps", type=int, default=None, help="training steps of each MI-FER run (default: the config's)")
    p.add_argument("--width", type=int, default=None,
                   help="channels of the encoder's first stage (default: the config's)")
    p.add_argument("--mi-weight", type=float, default=None,
                   help="λ of the MI-FER run, the baseline uses 0 (default: the config's)")
    p.add_argument("--audit-splits", type=int, default=10,
                   help="random probe-train/probe-test halves the identity audit averages over")
    p.add_argument("--seed", type=int, default=None, help="(default: the config's)")
    p.add_argument("--workers", type=int, default=None, help="processes for rendering and extraction")
    p.add_argument("--quick", action="store_true", help="a tiny smoke-sized demo (tests, first look)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of both runs' config (configs/mi_fer/demo.py), as fer-jax train's "
                        "--config.KEY=VALUE does, e.g. --set mi.refit_memory=512")
    return p


def _quick(args: argparse.Namespace) -> None:
    """The smoke-sized data; the training size is ``configs/mi_fer/demo.py:quick``'s."""
    args.identities, args.clips_per_identity, args.frames = 8, 1, 12
    args.pool_identities, args.id_steps = 8, 30


def _training_defaults(args: argparse.Namespace) -> None:
    """Flags left out take the experiment's values from ``configs/mi_fer/demo.py`` (their one home)."""
    from configs.mi_fer import demo as experiment

    c = experiment.get_config("quick" if args.quick else None)
    for name, value in experiment.DATA.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name, value in (("seed", c.seed), ("steps", c.total_steps), ("width", c.model.width),
                        ("size", c.input.size), ("mi_weight", c.mi.weight)):
        if getattr(args, name) is None:
            setattr(args, name, value)


def config_arg(args: argparse.Namespace, data_dir: Path, backbone: str, baseline: bool) -> str:
    """The ``configs/mi_fer/demo.py`` argument of one run, every training flag stated."""
    parts = (["baseline"] if baseline else []) + [
        f"seed={args.seed}", f"steps={args.steps}", f"width={args.width}", f"size={args.size}",
        f"mi_weight={args.mi_weight!r}", f"data_dir={data_dir}", f"backbone={backbone}"]
    if not getattr(args, "apex", True):  # the apex constraint's ablation (benchmarks/mi_fer/bench_seeds.py)
        parts.append("apex=false")
    if any("," in str(x) for x in (data_dir, backbone)):
        raise ValueError(f"the demo's paths may not contain ',': {data_dir}, {backbone}")
    return ",".join(parts)


def train_config(args: argparse.Namespace, data_dir: Path, backbone: str, baseline: bool = False):
    """``configs/mi_fer/demo.py`` with the demo's flags, as ``fer-jax train --config=...`` builds it."""
    from configs.mi_fer import demo as experiment

    c = experiment.get_config(config_arg(args, data_dir, backbone, baseline))
    apply_overrides(c, args.set)
    c.progress_bar = sys.stderr.isatty()
    return c


def run(args: argparse.Namespace) -> dict:
    work = Path(args.workdir).resolve()
    report: dict[str, Any] = {"args": vars(args)}
    tfds_dir, backbone = prepare_data(args, work, report)
    results = {}
    for run_name, baseline in (("mi_fer", False), ("baseline", True)):
        results[run_name] = train_and_evaluate(args, work, run_name, tfds_dir, backbone, baseline, report)
    report["runs"] = results
    report["comparison"] = _compare(results)
    atomic_write_json(work / "report.json", report)
    from fer_jax.commands.demo_report import write_markdown

    write_markdown(work, report, RUNS)
    return report


def prepare_data(args: argparse.Namespace, work: Path, report: dict) -> tuple[Path, str]:
    """Stages 1-3 under ``work`` (each skipped when done): render, pre-train the identity encoder, build
    the TFDS set. Returns (TFDS data dir, identity backbone spec). ``args.seed`` seeds all three."""
    work.mkdir(parents=True, exist_ok=True)
    synth_dir, id_dir, tfds_dir = work / "synthface", work / "identity_encoder", work / "tfds"

    with Stage(report, "render SynthFace", synth_dir / "labels.jsonl") as st:
        if not st.done:
            from data_pipelines.synthface import generate

            generate(synth_dir, identities=args.identities, clips_per_identity=args.clips_per_identity,
                     regime="lab", frames=args.frames, size=args.size, seed=args.seed,
                     pool_identities=args.pool_identities, workers=args.workers, progress=True,
                     split_fractions=SPLIT_FRACTIONS, head_motion=args.head_motion)
    source_dir = work / "synthface_train_coverage"
    with Stage(report, "select training coverage", source_dir / "labels.jsonl") as st:
        if not st.done:
            select_coverage(synth_dir, source_dir, args.expressions_per_identity, args.seed,
                            train_clips=args.train_clips or None)
    report["dataset"] = dataset_summary(source_dir)

    with Stage(report, "pre-train identity encoder", id_dir / "done.json") as st:
        if not st.done:
            from fer_jax.identity.pretrain import pretrain_identity_encoder

            pool = np.load(synth_dir / "identity_pool.npz")
            metrics = pretrain_identity_encoder(pool["images"], pool["identity"], str(id_dir),
                                                steps=args.id_steps, seed=args.seed)
            atomic_write_json(id_dir / "done.json", metrics)
    report["identity_encoder"] = json.loads((id_dir / "done.json").read_text())
    backbone = f"flax:{id_dir}"

    with Stage(report, "extract + build TFDS", work / "tfds.done.json") as st:
        if not st.done:
            from data_pipelines.synthface_tfds.builder import SynthFace
            from fer_jax.identity import get_backbone

            cfg = SynthFace.make_config(size=args.size, identity_backbone=backbone,
                                        identities=args.identities, clips_per_identity=args.clips_per_identity,
                                        frames=args.frames, seed=args.seed)
            # data_pipelines know no model: the frozen encoder of stage 2 is injected, as a picklable
            # factory so extraction workers each load their own.
            builder = SynthFace(config=cfg, data_dir=str(tfds_dir), source_dir=source_dir,
                                workers=args.workers or os.cpu_count() or 1,
                                backbone_factory=functools.partial(get_backbone, backbone))
            builder.download_and_prepare()
            splits = {k: v.num_examples for k, v in builder.info.splits.items()}
            atomic_write_json(work / "tfds.done.json", {"skipped": builder.skipped, "splits": splits})
    report["tfds"] = json.loads((work / "tfds.done.json").read_text())
    return tfds_dir, backbone


def train_and_evaluate(args: argparse.Namespace, work: Path, run_name: str, tfds_dir: Path, backbone: str,
                       baseline: bool, report: dict) -> dict:
    """Stages 4-5 for one run into ``work / run_name`` (skipped when done): train from
    ``configs/mi_fer/demo.py`` with the demo's flags, then the test report. ``args.seed`` seeds the
    training (initialisation, batch order, segment draws, augmentation) and the audit's probe splits."""
    config = train_config(args, tfds_dir, backbone, baseline)
    run_dir = work / run_name
    report.setdefault("train_commands", {})[run_name] = (
        f"fer-jax train --config=configs/mi_fer/demo.py:{config_arg(args, tfds_dir, backbone, baseline)} "
        + "".join(f"--config.{item} " for item in args.set) + f"--workdir={run_dir}")
    train_stage(report, run_name, config, run_dir)
    with Stage(report, f"evaluate {run_name}", run_dir / "test_report.json") as st:
        if not st.done:
            atomic_write_json(run_dir / "test_report.json", evaluate_run(config, run_dir, args.audit_splits))
    if not baseline:
        report["penalty"] = str(config.mi.penalty)
        report["mi_schedule"] = {"start_step": int(config.mi.start_step),
                                 "warmup_steps": int(config.mi.warmup_steps)}
    return json.loads((run_dir / "test_report.json").read_text())


def select_coverage(synth_dir: Path, out_dir: Path, per_identity: int, seed: int,
                    train_clips: int | None = None) -> None:
    """Keep, for each *training* identity, the clips of ``per_identity`` of the 7 expressions
    (and of each, the first ``train_clips`` clips; ``None`` keeps them all).

    Why: in the lab datasets MI-FER targets, subjects pose only some expressions (CK+: 593 sequences of
    123 subjects, 327 labelled), so identity is partly predictive of the label in training and an
    expression encoder is rewarded for encoding identity: the confound the min-min game removes. The
    expressions are drawn per identity so every class keeps about the same number of clips; val and
    test keep every expression of their (unseen) identities, so accuracy is measured on balanced,
    unconfounded data. ``per_identity = 7`` keeps everything. Videos are not copied: the labels point
    at the originals.
    """
    from data_pipelines.synthface import EXPRESSIONS

    recs = [json.loads(line) for line in open(synth_dir / "labels.jsonl") if line.strip()]
    rng = np.random.default_rng(seed)
    train_ids = sorted({r["identity"] for r in recs if r["split"] == "train"})
    n_expr = len(EXPRESSIONS)
    # Round-robin over shuffled expressions: identity i gets a contiguous window of the cycle.
    order = rng.permutation(n_expr)
    keep = {ident: {int(order[(i * per_identity + j) % n_expr]) for j in range(min(per_identity, n_expr))}
            for i, ident in enumerate(train_ids)}
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for r in recs:
        expr = r["expression"] if isinstance(r["expression"], int) else EXPRESSIONS.index(r["expression"])
        if r["split"] == "train" and (expr not in keep[r["identity"]] or (
                train_clips is not None and int(r["clip_id"].rsplit("_", 1)[1]) >= train_clips)):
            continue
        lines.append(json.dumps(dict(r, file=str((synth_dir / r["file"]).resolve()))))
    atomic_write(out_dir / "labels.jsonl", "\n".join(lines) + "\n")


def evaluate_run(config, run_dir: Path, audit_splits: int = 10) -> dict:
    """Test-split (unseen identities) classification report + identity audit + plots."""
    from fer_jax.evaluate import plots
    from fer_jax.evaluate.identity_audit import audit
    from fer_jax.evaluate.runner import evaluate_splits

    res, seen = evaluate_splits(config, str(run_dir), ("test", "train"), checkpoint="best").values()
    names = tuple(config.class_names)
    audit_res = audit(res["features"], res["identity"], seed=int(config.seed), repeats=audit_splits,
                      labels=res["label"], class_names=names)
    plots.confusion_png(res["confusion"], list(config.class_names), str(run_dir / "confusion_test.png"))
    keep = {k: v for k, v in res.items() if not isinstance(v, np.ndarray)}
    keep["identity_audit"] = audit_res
    # The same audit on the training identities (the clips the game was played on) tells "the game
    # does not remove identity" apart from "its invariance does not carry over to unseen identities".
    keep["identity_audit_seen"] = audit(seen["features"], seen["identity"], seed=int(config.seed),
                                        repeats=audit_splits, labels=seen["label"], class_names=names)
    keep["war_seen"] = seen["war"]
    return keep


def _compare(results: dict) -> dict:
    from fer_jax.evaluate.identity_audit import compare_audits

    mi, base = results["mi_fer"], results["baseline"]
    out = {"war_delta_points": 100 * (mi["war"] - base["war"]),
           "uar_delta_points": 100 * (mi["uar"] - base["uar"])}
    paired = compare_audits(mi["identity_audit"], base["identity_audit"])
    out["audit_splits"] = paired.pop("repeats")
    for key, value in paired.items():
        out[key.replace("_treated", "_mi_fer")] = value
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["stt"]:  # `fer-jax demo stt`: STT against the frame-averaged ResNet on SynthFace-wild
        from fer_jax.commands import demo_stt

        return demo_stt.main(argv[1:])
    args = _parser().parse_args(argv)
    if args.quick:
        _quick(args)
    _training_defaults(args)
    if args.size % 16:
        print(f"fer-jax demo: --size must be a multiple of 16, got {args.size}", file=sys.stderr)
        return 2
    quiet_logging()
    report = run(args)
    work = Path(args.workdir).resolve()
    print(f"[demo] report: {work / 'report.md'}")
    for name, res in report["runs"].items():
        a = res["identity_audit"]
        print(f"[demo] {RUNS[name]}: test WAR {res['war']:.3f} UAR {res['uar']:.3f} | identity probe "
              f"linear {a['linear_acc']:.3f} mlp {a['mlp_acc']:.3f} (chance {a['chance']:.3f})")
    return 0
