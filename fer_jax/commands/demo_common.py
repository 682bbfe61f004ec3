"""What both demos (``fer-jax demo``, ``fer-jax demo stt``) share: the resumable stage marker, the
rendered set's split summary and the training curves read back from a run's ``metrics.jsonl``."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path


class Stage:
    """Times a stage and records it; ``done`` tells whether its output is already there."""

    def __init__(self, report: dict, name: str, marker: Path):
        self.report, self.name, self.marker = report, name, marker

    @property
    def done(self) -> bool:
        return self.marker.exists()

    def __enter__(self) -> "Stage":
        self.t0 = time.perf_counter()
        print(f"[demo] {self.name}{' (cached)' if self.done else ''} ...", flush=True)
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.report.setdefault("seconds", {})[self.name] = round(time.perf_counter() - self.t0, 1)


def train_stage(report: dict, run_name: str, config, run_dir: Path) -> None:
    """Train ``config`` into ``run_dir`` with the shared trainer, skipped when ``run_dir/trained.json`` (its
    final step, validation figures and seconds) is there."""
    from data_pipelines.atomic import atomic_write_json

    with Stage(report, f"train {run_name}", run_dir / "trained.json") as st:
        if not st.done:
            from fer_jax.train.trainer import train

            t0 = time.perf_counter()
            out = train(config, str(run_dir))
            atomic_write_json(run_dir / "trained.json", {"step": out["step"], "val": out["val"],
                                                         "seconds": time.perf_counter() - t0})


def dataset_summary(synth_dir: Path) -> dict:
    """{split: {clips, identities}} of a rendered SynthFace directory's ``labels.jsonl``."""
    recs = [json.loads(line) for line in open(synth_dir / "labels.jsonl") if line.strip()]
    splits: dict[str, dict] = {}
    for r in recs:
        s = splits.setdefault(r["split"], {"clips": 0, "identities": set()})
        s["clips"] += 1
        s["identities"].add(r["identity"])
    return {k: {"clips": v["clips"], "identities": len(v["identities"])} for k, v in sorted(splits.items())}


def read_history(metrics_jsonl: Path, keys: tuple[str, ...]) -> dict[str, list[tuple[int, float]]]:
    """``metrics.jsonl`` of a training run -> {key: [(step, value), ...]} for the train split."""
    hist: dict[str, list[tuple[int, float]]] = {k: [] for k in keys}
    if not metrics_jsonl.exists():
        return hist
    for line in open(metrics_jsonl):
        if not line.strip():
            continue
        rec = json.loads(line)
        for k in keys:
            if k in rec:
                hist[k].append((int(rec["step"]), float(rec[k])))
    return hist


def quiet_logging() -> None:
    """Our own progress at INFO; orbax/absl/TFDS chatter only when something is wrong."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("fer_jax").setLevel(logging.INFO)
    logging.getLogger("absl").setLevel(logging.WARNING)
