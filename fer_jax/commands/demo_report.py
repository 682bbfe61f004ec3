"""The demo's human-readable report: ``report.md`` with training curves, confusion matrices and the
identity audit, next to the machine-readable ``report.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data_pipelines.atomic import atomic_write
from fer_jax.commands.demo_common import read_history


def _train_clips(args: dict[str, Any]) -> str:
    k = args.get("train_clips")
    return f"; training identities keep {k} clip(s) per expression" if k and k < args["clips_per_identity"] else ""


def _schedule(report: dict[str, Any]) -> str:
    s = report.get("mi_schedule")
    return "" if not s else f" (0 before step {s['start_step']}, full from step {s['start_step'] + s['warmup_steps']})"


def _acc(audit: dict[str, Any], key: str) -> str:
    sd = audit.get(f"{key}_sd")
    return f"{audit[key]:.3f}" if sd is None else f"{audit[key]:.3f} ± {sd:.3f}"


def _per_class_audit(report: dict[str, Any], run_titles: dict[str, str]) -> list[str]:
    """The identity audit by expression class (is identity removed evenly?), when the audit has it."""
    runs = [r for r, res in report["runs"].items() if "per_class" in res["identity_audit"]]
    if not runs:
        return []
    first = report["runs"][runs[0]]["identity_audit"]
    head = " | ".join(f"{run_titles[r]}: linear / MLP" for r in runs)
    lines = ["### Identity probes by expression class (test clips of that class)", "",
             f"| class | probe-test clips | {head} |", "|---|---|" + "---|" * len(runs)]
    for cls, row in first["per_class"].items():
        cells = []
        for r in runs:
            pc = report["runs"][r]["identity_audit"]["per_class"].get(cls, {})
            cells.append(f"{pc.get('linear_acc', float('nan')):.3f} / {pc.get('mlp_acc', float('nan')):.3f}")
        lines.append(f"| {cls} | {row['n_test']} | " + " | ".join(cells) + " |")
    return lines + ["", f"Chance {first['chance']:.3f} in every class (the probe predicts among all identities).", ""]


def write_markdown(work: Path, report: dict[str, Any], run_titles: dict[str, str]) -> Path:
    from fer_jax.evaluate import plots

    curves: dict[str, list[tuple[int, float]]] = {}
    for run in report["runs"]:
        hist = read_history(work / run / "metrics.jsonl", ("loss/ce", "mi/club", "val/uar"))
        for key, series in hist.items():
            if series:
                curves[f"{run} {key}"] = series
    plots.curves_png(curves, str(work / "curves.png"))
    plots.audit_png({run_titles[r]: res["identity_audit"] for r, res in report["runs"].items()},
                    str(work / "identity_audit.png"))

    lines = ["# fer-jax demo: MI-FER on SynthFace", ""]
    a = report["args"]
    lines += [f"SynthFace lab regime, {a['identities']} identities × 7 expressions × {a['clips_per_identity']} "
              f"clips × {a['frames']} frames at {a['size']}², MPEG-4 GOP 12; identity encoder pre-trained on "
              f"{a['pool_identities']} reserved identities, head sway {a.get('head_motion', 0.0)}"
              f"{_train_clips(a)}. Test = identities never seen in training. MI-FER run: λ = {a['mi_weight']}"
              f"{_schedule(report)}, penalty `{report.get('penalty', 'club')}`, {a['steps']} steps per run, "
              f"seed {a['seed']} (data, identity encoder and training).", ""]
    lines += ["| split | clips | identities |", "|---|---|---|"]
    lines += [f"| {k} | {v['clips']} | {v['identities']} |" for k, v in report["dataset"].items()]
    lines += ["", "## Results on unseen identities (test split)", "",
              "| run | WAR | UAR | identity probe, linear | identity probe, MLP | chance | estimated MI (CLUB) |",
              "|---|---|---|---|---|---|---|"]
    for run, res in report["runs"].items():
        au = res["identity_audit"]
        mi = res.get("mi/club")
        lines.append(f"| {run_titles[run]} | {res['war']:.3f} | {res['uar']:.3f} | {_acc(au, 'linear_acc')} | "
                     f"{_acc(au, 'mlp_acc')} | {au['chance']:.3f} | {'' if mi is None else f'{mi:.3f}'} |")
    c = report["comparison"]
    n = c.get("audit_splits", 1)
    lines += ["", f"Identity probes: mean ± sd over {n} random probe-train/probe-test halves of the test clips.", "",
              f"MI-FER vs baseline: WAR {c['war_delta_points']:+.1f} points, UAR {c['uar_delta_points']:+.1f} "
              f"points; linear identity probe above chance {c['linear_acc_above_chance_mi_fer']:.3f} vs "
              f"{c['linear_acc_above_chance_baseline']:.3f} (MI-FER closer to chance in "
              f"{c['linear_acc_splits_closer']:g} of {n} splits), MLP probe {c['mlp_acc_above_chance_mi_fer']:.3f} vs "
              f"{c['mlp_acc_above_chance_baseline']:.3f} ({c['mlp_acc_splits_closer']:g} of {n}).", "",
              "![identity audit](identity_audit.png)", ""]
    lines += _per_class_audit(report, run_titles)
    if all("identity_audit_seen" in res for res in report["runs"].values()):
        lines += ["### The same audit on the training identities (clips the encoder trained on)", "",
                  "| run | WAR | identity probe, linear | identity probe, MLP | chance |", "|---|---|---|---|---|"]
        for run, res in report["runs"].items():
            au = res["identity_audit_seen"]
            lines.append(f"| {run_titles[run]} | {res['war_seen']:.3f} | {_acc(au, 'linear_acc')} | "
                         f"{_acc(au, 'mlp_acc')} | {au['chance']:.3f} |")
        lines.append("")
    lines += ["![training curves](curves.png)", ""]
    for run in report["runs"]:
        lines += [f"### Confusion matrix, {run_titles[run]}", "", f"![confusion]({run}/confusion_test.png)", ""]
    if report.get("train_commands"):  # the runs' experiment is configs/mi_fer/demo.py; this relaunches one
        lines += ["## Re-running a training run (from the repository root)", ""]
        lines += [f"- {run_titles[run]}: `{cmd}`" for run, cmd in report["train_commands"].items()] + [""]
    lines += ["## Time per stage (seconds)", "", "| stage | s |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report.get("seconds", {}).items()]
    path = work / "report.md"
    atomic_write(path, "\n".join(lines) + "\n")
    return path
