"""STT vs the frame-averaged ResNet baseline, and the compact loss vs plain CE, on SynthFace-wild over seeds.

    python benchmarks/stt/bench_wild.py --data-dir D --workdir W --seeds 0 1 --steps 1500 --size 48
    python benchmarks/stt/bench_wild.py ... --runs compressed compressed_ce   # a _frames build holds both
    python benchmarks/stt/bench_wild.py ... --runs stt compressed baseline --train-clips 64 --steps 1000
        # the learnability ladder's first rung: each clip model fits 64 training clips (train CE < 0.1)

Every run is ``fer-jax train`` with ``configs/stt/synthface_wild.py`` (``:tiny`` plus the run's word:
``stt`` = compact loss, ``ce`` = plain CE, ``baseline`` = ``rgb_baseline``, ``compressed`` /
``compressed_ce`` = compressed tokens with the compact loss / plain CE), the same data, steps, optimizer
and schedule; a seed controls initialisation, batch order and segment draws only (the data is made once).
Validation every ``--eval-every`` steps, the test split once, at the last step (no checkpoint is picked on
test). A run whose workdir holds ``done`` is skipped, so re-running resumes. Writes ``W/wild.json`` (every
run's final val/test figures and train steps/s) and ``W/wild.md`` (per-seed rows, then mean ± sd over seeds).

Data (the README's setting)::

    fer-jax synthface --out SRC --identities 400 --clips-per-identity 1 --regime wild --frames 24 --size 96 \
        --pool-identities 0
    fer-jax build synthface --data-dir D --source-dir SRC --identities 400 --clips-per-identity 1 \
        --frames 24 --regime wild --size 48 --store-frames
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import common  # noqa: E402

RUNS = {  # name -> (config file, extra variant words)
    "stt": ("configs/stt/synthface_wild.py", ""),
    "ce": ("configs/stt/synthface_wild.py", ",ce"),
    "baseline": ("configs/rgb_baseline/synthface_wild.py", ""),
    "compressed": ("configs/stt/synthface_wild.py", ",compressed"),
    "compressed_ce": ("configs/stt/synthface_wild.py", ",compressed,ce"),
    "face": ("configs/stt/synthface_wild.py", ",face={face}"),  # --face DIR: the trunk from a face encoder
}
LABELS = {"stt": "STT, compact loss", "ce": "STT, plain CE", "baseline": "rgb baseline (frame-avg ResNet)",
          "compressed": "STT, compressed tokens, compact", "compressed_ce": "STT, compressed tokens, plain CE",
          "face": "STT, trunk from the face encoder"}


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="TFDS data_dir with one synthface _frames build")
    p.add_argument("--compressed-data-dir", default=None,
                   help="the build the compressed runs read (default: --data-dir; a _frames build holds the "
                        "compressed groups too)")
    p.add_argument("--workdir", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--runs", nargs="+", default=["stt", "ce", "baseline"], choices=tuple(RUNS))
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    p.add_argument("--size", type=int, default=None, help="input.size (default: the config's)")
    p.add_argument("--eval-every", type=int, default=None, help="validation cadence (default: the config's)")
    p.add_argument("--order", choices=("seed", "run"), default="seed",
                   help="seed: all runs of a seed before the next seed (default)")
    p.add_argument("--face", default=None, help="identity-encoder directory for the face run (a fer-jax demo "
                   "workdir's identity_encoder)")
    p.add_argument("--train-clips", type=int, default=None,
                   help="train on the first N training clips only (the learnability ladder's fit check: "
                        "split_train = train[:N])")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override given to every run alike (--config.KEY=VALUE)")
    p.add_argument("--report-only", action="store_true", help="only gather finished runs into the table")
    return p.parse_args(argv)


def _cmd(b: argparse.Namespace, run: str, seed: int, wd: Path) -> list[str]:
    cfg, words = RUNS[run]
    data = (b.compressed_data_dir or b.data_dir) if run.startswith("compressed") else b.data_dir
    if run == "face" and not b.face:
        raise SystemExit("--runs face needs --face DIR")
    arg = f"tiny{words.format(face=b.face)},seed={seed},data_dir={data}" + (f",steps={b.steps}" if b.steps else "")
    cmd = [sys.executable, "-m", "fer_jax.cli", "train", f"--config={cfg}:{arg}", f"--workdir={wd}",
           "--config.progress_bar=False"]
    if b.size:
        cmd.append(f"--config.input.size={b.size}")
    if b.eval_every:
        cmd.append(f"--config.eval_every={b.eval_every}")
    if b.train_clips:
        cmd.append(f"--config.input.split_train=train[:{b.train_clips}]")
    cmd += [f"--config.{item}" for item in b.set]
    return cmd


def _result(wd: Path) -> dict | None:
    tests = sorted(wd.glob("eval_test_*.json"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if not tests:
        return None
    test = json.loads(tests[-1].read_text())
    step = int(test["step"])
    val_path = wd / f"eval_{step}.json"
    val = json.loads(val_path.read_text()) if val_path.exists() else {}
    rows = [json.loads(line) for line in (wd / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rate = [r["perf/steps_per_sec"] for r in rows if "perf/steps_per_sec" in r][1:]  # the first holds compiling
    train = [r for r in rows if r.get("split") == "train"]
    return {"step": step, "test_uar": test["uar"], "test_war": test["war"],
            "test_ratio": test.get("embedding", {}).get("ratio_sq"), "val_uar": val.get("uar"),
            "val_ratio": val.get("embedding", {}).get("ratio_sq"),
            "train_ce": float(np.mean([r["loss/ce"] for r in train[-5:]])) if train else None,
            "steps_per_sec": float(np.median(rate)) if rate else None}


def _fmt(xs: list[float | None], nd: int = 3) -> str:
    return common.mean_sd(xs, f".{nd}f")


def table(results: dict[str, dict[int, dict]]) -> str:
    head = ("| run | seed | steps | val UAR | test UAR | test WAR | test intra/inter | train CE (last 50) "
            "| steps/s |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for run, by_seed in results.items():
        for seed, r in sorted(by_seed.items()):
            lines.append(f"| {LABELS[run]} | {seed} | {r['step']} | {_fmt([r['val_uar']])} | {_fmt([r['test_uar']])} "
                         f"| {_fmt([r['test_war']])} | {_fmt([r['test_ratio']], 2)} | {_fmt([r['train_ce']], 2)} "
                         f"| {_fmt([r['steps_per_sec']], 2)} |")
    for run, by_seed in results.items():
        rs = list(by_seed.values())
        if len(rs) > 1:
            seeds = ",".join(str(s) for s in sorted(by_seed))
            lines.append(
                f"| **{LABELS[run]}** | mean ± sd ({seeds}) | {rs[0]['step']} | {_fmt([r['val_uar'] for r in rs])} "
                f"| **{_fmt([r['test_uar'] for r in rs])}** | {_fmt([r['test_war'] for r in rs])} "
                f"| **{_fmt([r['test_ratio'] for r in rs], 2)}** | {_fmt([r['train_ce'] for r in rs], 2)} "
                f"| {_fmt([r['steps_per_sec'] for r in rs], 2)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    b = _args(argv)
    root = Path(b.workdir)
    root.mkdir(parents=True, exist_ok=True)
    jobs = ([(r, s) for s in b.seeds for r in b.runs] if b.order == "seed" else
            [(r, s) for r in b.runs for s in b.seeds])
    for run, seed in jobs:
        wd = root / f"{run}_s{seed}"
        if b.report_only or (wd / "done").exists():
            continue
        cmd = _cmd(b, run, seed, wd)
        print(" ".join(cmd), flush=True)
        t0 = time.time()
        with open(root / f"{run}_s{seed}.log", "a") as log:
            rc = subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        if rc:
            print(f"{run} seed {seed}: exit {rc} (log {root / f'{run}_s{seed}.log'})", flush=True)
            continue
        (wd / "done").write_text(f"{time.time() - t0:.0f} s\n")
    results: dict[str, dict[int, dict]] = {}
    for run in b.runs:
        for seed in b.seeds:
            r = _result(root / f"{run}_s{seed}")
            if r is not None:
                results.setdefault(run, {})[seed] = r
    (root / "wild.json").write_text(json.dumps(results, indent=1))
    md = table(results)
    (root / "wild.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
