"""``fer-jax demo stt``'s human-readable report: ``report.md`` with the results table, learning curves,
confusion matrices, the attention share and a per-clip importance figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from data_pipelines.atomic import atomic_write
from fer_jax.commands.demo_common import read_history

FIGURE_CLIPS = 6


def pick_clips(share: dict[str, Any], n: int = FIGURE_CLIPS) -> list[int]:
    """Up to ``n`` of the clips the share was measured on: one per true class first, then the next ones."""
    kept = share["per_clip"]["index"]
    labels = share["clips_arrays"]["label"]
    first: dict[int, int] = {}
    for i in kept:
        first.setdefault(labels[i], i)
    picked = sorted(first.values())[:n]
    return picked + [i for i in kept if i not in picked][: n - len(picked)]


def importance_png(share: dict[str, Any], class_names: Sequence[str], path: str) -> str:
    """Per picked clip: STT's importance of each sampled frame (bars) and the frame's expression intensity
    (line), titled with the true and the predicted class."""
    from fer_jax.evaluate.plots import frames_png

    arrays = share["clips_arrays"]
    panels = [{"bars": arrays["importance"][i], "curve": arrays["intensity"][i], "frames": arrays["frame_index"][i],
               "title": f"true {class_names[arrays['label'][i]]} / predicted {class_names[arrays['pred'][i]]}"}
              for i in pick_clips(share)]
    return frames_png(panels, path, bars="importance", curve="AU intensity sum")


def _pm(mean: float | None, sd: float | None) -> str:
    return "n/a" if mean is None else f"{mean:.3f} ± {sd:.3f}"


def _results(report: dict[str, Any], titles: dict[str, str], class_names: Sequence[str]) -> list[str]:
    head = " | ".join(class_names)
    lines = [f"| run | step | WAR | UAR | {head} |", "|---|---|---|---|" + "---|" * len(class_names)]
    for run, res in report["runs"].items():
        recall = res.get("per_class_recall", {})
        cells = " | ".join(f"{recall[c]:.2f}" if c in recall else "" for c in class_names)
        lines.append(f"| {titles[run]} | {res['step']} | {res['war']:.3f} | {res['uar']:.3f} | {cells} |")
    return lines


def _detector(report: dict[str, Any]) -> str:
    kind = report.get("tfds", {}).get("detector", "")
    return "MTCNN" if kind == "mtcnn" else f"dlib's {kind.upper()}" if kind else "the face tracker"


def write_report(work: Path, report: dict[str, Any], share: dict[str, Any], titles: dict[str, str]) -> Path:
    """``curves.png``, ``attention_frames.png`` and ``report.md`` under ``work``."""
    from data_pipelines.synthface.facs import EXPRESSIONS
    from fer_jax.evaluate import plots

    names = list(EXPRESSIONS)
    curves: dict[str, list[tuple[int, float]]] = {}
    for run in report["runs"]:
        for key, series in read_history(work / run / "metrics.jsonl", ("loss/ce", "val/uar")).items():
            if series:
                curves[f"{run} {key}"] = series
    plots.curves_png(curves, str(work / "curves.png"))
    if share["clips"]:
        importance_png(share, names, str(work / "attention_frames.png"))

    a = report["args"]
    lines = ["# fer-jax demo stt: STT on SynthFace-wild", "",
             f"SynthFace wild regime (DFEW-like movie frames, the face tracked by {_detector(report)} and "
             f"cropped), {a['identities']} "
             f"identities × 7 expressions × 1 clip of about {a['frames']} frames, face crops at {a['size']}²; "
             f"test = identities never seen in training. Both runs: `:tiny` configs, {a['steps']} steps, seed "
             f"{a['seed']}, the checkpoint with the best validation UAR; chance UAR {1 / len(names):.3f}.", "",
             "| split | clips | identities |", "|---|---|---|"]
    lines += [f"| {k} | {v['clips']} | {v['identities']} |" for k, v in report["dataset"].items()]
    lines += ["", "## Results on unseen identities (test split)", "", "WAR, UAR and recall per class:", ""]
    lines += _results(report, titles, names)
    lines += ["", "![learning curves](curves.png)", ""]
    for run in report["runs"]:
        lines += [f"### Confusion matrix, {titles[run]}", "", f"![confusion]({run}/confusion_test.png)", ""]
    lines += ["## Does STT look at the expression?", "",
              "STT's per-frame importance is the temporal attention rollout (`fer_jax/methods/stt/attention.py`: "
              "per block the head-mean temporal attention with the residual, A' = ½I + ½A, composed over blocks "
              "and averaged over spatial positions and destination frames, as the CLS token averages frames "
              "uniformly). The share is the importance on the sampled frames whose expression intensity (sum of "
              "the 12 AU intensities) is at least half the clip's peak over those frames; under uniform "
              "attention it is the fraction of such frames. Neutral clips are left out.", ""]
    if share["clips"]:
        lines += ["| test clips | share on expressive frames | uniform | share − uniform | clips above uniform |",
                  "|---|---|---|---|---|",
                  f"| {share['clips']} | {_pm(share['share_mean'], share['share_sd'])} | "
                  f"{_pm(share['uniform_mean'], share['uniform_sd'])} | {_pm(share['excess_mean'], share['excess_sd'])} "
                  f"| {share['clips_above_uniform']} |", "", "(mean ± sd over test clips)", "",
                  "![importance per frame](attention_frames.png)", ""]
    else:
        lines += ["No test clip with an expression and AU labels: no share.", ""]
    lines += ["## Re-running a training run (from the repository root)", ""]
    lines += [f"- {titles[run]}: `{cmd}`" for run, cmd in report.get("train_commands", {}).items()] + [""]
    lines += ["## Time per stage (seconds)", "", "| stage | s |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report.get("seconds", {}).items()]
    path = work / "report.md"
    atomic_write(path, "\n".join(lines) + "\n")
    return path
