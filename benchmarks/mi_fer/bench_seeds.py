"""The demo's MI-FER result over training seeds (and optionally λ values): is the effect larger than the noise?

    python benchmarks/mi_fer/bench_seeds.py --seeds 0 1 2 --workdir runs/bench_mifer
    python benchmarks/mi_fer/bench_seeds.py --seeds 0 1 2 --mi-weights 0.1 0.2 --workdir runs/bench_mifer
    python benchmarks/mi_fer/bench_seeds.py --quick --seeds 0 1 --workdir /tmp/b   # smoke size

What a seed controls: the data (render, training-coverage selection, identity encoder, TFDS build) is
made ONCE with ``--data-seed`` (default 0, the demo's) under ``WORKDIR/data`` (or ``--data``); each ``--seeds`` value
then seeds only the training of both runs (initialisation, batch order, segment draws, augmentation)
and the identity audit's probe splits. Seed 0 with data seed 0 is exactly ``fer-jax demo``'s pair of
runs. Everything else is ``fer-jax demo``'s defaults (``configs/mi_fer/demo.py``); every stage is
skipped when its output exists, so re-running resumes.

Writes ``WORKDIR/seeds.json`` (every run's report), ``WORKDIR/seeds.md`` (the table: per seed and λ,
WAR, UAR, both probes mean ± sd over the probe splits, the CLUB estimate on the test clips, and the
cut of each probe's margin over chance; then mean ± sd over seeds) and ``WORKDIR/seeds.png`` (WAR
against identity leakage per seed, baseline → MI-FER).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import common  # noqa: E402
from fer_jax.commands import demo  # noqa: E402

PROBES = (("linear_acc", "linear"), ("mlp_acc", "MLP"))


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the data, made once (default: the demo's 0)")
    p.add_argument("--data", default=None,
                   help="where the data is made, or found made (default: WORKDIR/data; a `fer-jax demo` workdir "
                        "of the same seed and flags works: its stages are reused)")
    p.add_argument("--mi-weights", type=float, nargs="+", default=None,
                   help="λ values of the MI-FER runs (default: configs/mi_fer/demo.py's); one baseline per seed")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    p.add_argument("--no-apex", action="store_true",
                   help="the apex-frame constraint off in every run (its ablation; compare with a bench without)")
    p.add_argument("--expressions-per-identity", type=int, default=None,
                   help="expressions each training identity shows (default: the demo's)")
    p.add_argument("--train-clips", type=int, default=None,
                   help="clips per shown expression kept for training identities (0 = all; default: the demo's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field of every run, as `fer-jax demo --set` (e.g. mi.refit_memory=512)")
    p.add_argument("--quick", action="store_true", help="the demo's --quick size (smoke test)")
    p.add_argument("--workers", type=int, default=None)
    return p.parse_args(argv)


def _demo_args(b: argparse.Namespace, seed: int) -> argparse.Namespace:
    """``fer-jax demo``'s arguments with this bench's changes (its parser: the same defaults)."""
    argv = ["--workdir", b.workdir, "--seed", str(seed)] + (["--quick"] if b.quick else [])
    argv += [] if b.steps is None else ["--steps", str(b.steps)]
    argv += [] if b.workers is None else ["--workers", str(b.workers)]
    epi = b.expressions_per_identity
    argv += [] if epi is None else ["--expressions-per-identity", str(epi)]
    argv += [] if b.train_clips is None else ["--train-clips", str(b.train_clips)]
    argv += [x for item in b.set for x in ("--set", item)]
    a = demo._parser().parse_args(argv)
    if a.quick:
        demo._quick(a)
    demo._training_defaults(a)
    a.apex = not b.no_apex
    return a


def margin_cut(treated: float, baseline: float, chance: float) -> float:
    """By how much (fraction) ``treated`` is closer to chance than ``baseline``: 1 - margin_t / margin_b."""
    mb = baseline - chance
    return float("nan") if mb <= 0 else 1.0 - (treated - chance) / mb


def run(b: argparse.Namespace) -> dict[str, Any]:
    work = Path(b.workdir).resolve()
    data_args = _demo_args(b, b.data_seed)
    report: dict[str, Any] = {"bench_args": vars(b)}
    t0 = time.perf_counter()
    data = work / "data" if b.data is None else Path(b.data).resolve()
    tfds_dir, backbone = demo.prepare_data(data_args, data, report)
    weights = b.mi_weights or [data_args.mi_weight]
    rows = []
    for seed in b.seeds:
        a = _demo_args(b, seed)
        seed_dir = work / f"seed{seed}"
        base = demo.train_and_evaluate(a, seed_dir, "baseline", tfds_dir, backbone, True, report)
        rows.append(_row(seed, 0.0, base, None))
        for w in weights:
            a.mi_weight = w
            name = "mi_fer" if len(weights) == 1 else f"mi_fer_l{w:g}"
            res = demo.train_and_evaluate(a, seed_dir, name, tfds_dir, backbone, False, report)
            rows.append(_row(seed, w, res, base))
        _write(work, report, rows, weights, time.perf_counter() - t0)
    return {"rows": rows, "weights": weights}


def seed_noise(rows: list[dict]) -> dict[str, list[float]]:
    """The margin cut one λ = 0 run "shows" against another seed's λ = 0 run, every ordered pair, per probe.

    Why: no game acted between them, so these values are what training-seed noise alone does to the
    statistic; a game's cut inside their range is not an effect (issue 17: "larger than seed noise").
    """
    base = [r for r in rows if r["mi_weight"] == 0.0]
    cuts = {key: [margin_cut(b[key], a[key], a["chance"]) for a in base for b in base if a is not b]
            for key, _ in PROBES}
    return {key: [c for c in v if not math.isnan(c)] for key, v in cuts.items()}  # a baseline at chance: nan


def _row(seed: int, weight: float, res: dict, base: dict | None) -> dict[str, Any]:
    au = res["identity_audit"]
    row = {"seed": seed, "mi_weight": weight, "war": res["war"], "uar": res["uar"], "chance": au["chance"],
           "mi_club": res.get("mi/club"), "per_class_recall": res.get("per_class_recall")}
    for key, _ in PROBES:
        row[key], row[f"{key}_sd"] = au[key], au[f"{key}_sd"]
        if base is not None:
            row[f"{key}_cut"] = margin_cut(au[key], base["identity_audit"][key], au["chance"])
    if base is not None:
        row["war_delta_points"] = 100 * (res["war"] - base["war"])
    return row


def _mean_sd(xs: list[float], fmt: str = ".3f", unit: str = "") -> str:
    """mean ± sd over seeds; one value alone has no sd."""
    return common.mean_sd(xs, fmt, unit, one=" (1 seed)")


def _cut(r: dict, key: str) -> str:
    return "" if f"{key}_cut" not in r else f"{100 * r[key + '_cut']:.0f}%"


def table(rows: list[dict], weights: list[float]) -> list[str]:
    """The markdown table: one line per (seed, λ), then mean ± sd over seeds per λ."""
    lines = ["| seed | λ | WAR | UAR | probe linear | probe MLP | chance | MI (CLUB, test) | "
             "linear margin cut | MLP margin cut | ΔWAR (points) |", "|---" * 11 + "|"]
    for r in rows:
        club = "" if r["mi_club"] is None else f"{r['mi_club']:.2f}"
        delta = "" if "war_delta_points" not in r else f"{r['war_delta_points']:+.1f}"
        lines.append(
            f"| {r['seed']} | {r['mi_weight']:g} | {r['war']:.3f} | {r['uar']:.3f} | "
            f"{r['linear_acc']:.3f} ± {r['linear_acc_sd']:.3f} | {r['mlp_acc']:.3f} ± {r['mlp_acc_sd']:.3f} | "
            f"{r['chance']:.3f} | {club} | {_cut(r, 'linear_acc')} | {_cut(r, 'mlp_acc')} | {delta} |")
    for w in [0.0] + list(weights):
        sel = [r for r in rows if r["mi_weight"] == w]
        if not sel:
            continue
        def pct(k: str, sel: list[dict] = sel) -> str:
            """mean ± sd of the cut, and in how many seeds the probe fell at all (the paired sign)."""
            cuts = [r[k] for r in sel if k in r]
            return f"{_mean_sd([100 * c for c in cuts], '.0f', '%')} ({sum(c > 0 for c in cuts)}/{len(cuts)} lower)"

        lines.append(
            f"| **mean ± sd ({len(sel)} seeds)** | {w:g} | {_mean_sd([r['war'] for r in sel])} | "
            f"{_mean_sd([r['uar'] for r in sel])} | {_mean_sd([r['linear_acc'] for r in sel])} | "
            f"{_mean_sd([r['mlp_acc'] for r in sel])} | {sel[0]['chance']:.3f} | "
            f"{_mean_sd([r['mi_club'] for r in sel])} | {pct('linear_acc_cut') if w else ''} | "
            f"{pct('mlp_acc_cut') if w else ''} | {_mean_sd([r.get('war_delta_points') for r in sel], '+.1f') if w else ''} |")
    noise = seed_noise(rows)
    if noise["linear_acc"] and noise["mlp_acc"]:
        span = {k: f"{100 * min(v):.0f}% … {100 * max(v):+.0f}%" for k, v in noise.items()}
        lines.append(f"| seed noise: λ = 0 vs λ = 0 of another seed | 0 | | | | | | | {span['linear_acc']} | "
                     f"{span['mlp_acc']} | |")
    return lines


def figure(rows: list[dict], path: Path) -> None:
    """WAR against each probe's accuracy, one arrow per seed and λ from its baseline to its MI-FER run."""
    from fer_jax.evaluate import plots

    plt, fig = plots._figure(figsize=(9, 4))
    for i, (key, title) in enumerate(PROBES):
        ax = fig.add_subplot(1, 2, i + 1)
        for r in rows:
            if r["mi_weight"] == 0.0:
                continue
            base = next(x for x in rows if x["seed"] == r["seed"] and x["mi_weight"] == 0.0)
            ax.annotate("", xy=(r[key], r["war"]), xytext=(base[key], base["war"]),
                        arrowprops=dict(arrowstyle="->", color=f"C{r['seed'] % 10}"))
            ax.scatter([base[key]], [base["war"]], color=f"C{r['seed'] % 10}", marker="o", s=20)
            ax.scatter([r[key]], [r["war"]], color=f"C{r['seed'] % 10}", marker="*", s=60,
                       label=f"seed {r['seed']}, λ {r['mi_weight']:g}")
        ax.axvline(rows[0]["chance"], color="gray", ls=":", lw=1, label="chance")
        ax.set_xlabel(f"identity probe ({title}) on unseen identities")
        ax.set_ylabel("expression WAR (unseen identities)")
        ax.set_title(f"baseline (o) → MI-FER (*), {title} probe")
        ax.legend(fontsize=7)
    plots._save(plt, fig, str(path))


def _write(work: Path, report: dict, rows: list[dict], weights: list[float], seconds: float) -> None:
    out = {"rows": rows, "seconds": round(seconds, 1), "stages": report.get("seconds", {}),
           "train_commands": report.get("train_commands", {}), "bench_args": report["bench_args"]}
    (work / "seeds.json").write_text(json.dumps(out, indent=2, default=float))
    lines = ["# MI-FER over seeds (the demo's setting)", "", *table(rows, weights), "",
             "Probes: mean ± sd over the audit's probe splits (per row) or over seeds (mean rows; sd with "
             "ddof 1). Margin cut = 1 − (probe − chance)_MI-FER / (probe − chance)_baseline of the same seed; "
             "the seed-noise row is the same statistic between two baselines (no game): its range is noise.",
             "", "![WAR vs identity leakage](seeds.png)", ""]
    (work / "seeds.md").write_text("\n".join(lines) + "\n")
    figure(rows, work / "seeds.png")


def main(argv: list[str] | None = None) -> int:
    b = _args(argv)
    out = run(b)
    print("\n".join(table(out["rows"], out["weights"])))
    print(f"written: {Path(b.workdir).resolve() / 'seeds.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
