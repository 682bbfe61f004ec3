"""IFER's thesis over a grid, settings chosen on validation identities (ifer README, "The thesis").

Each run is ``python benchmarks/ifer/stills_run.py fer`` on the README's split (identities 216-255
train, 256-285 test) plus ``--fer-val`` validation identities after the test ones: the trainer evaluates on
the validation identities, the final model once on the test ones. For every (encoder, variant) the
(lr, steps) with the best mean validation WAR over seeds is chosen, and its test WAR is reported: the test
identities choose nothing. Variants: ``ifer`` (modulation head), ``linear`` (ablation a), ``scratch``
(ablation b; no encoder). ``--invert STEPS`` first trains an inversion encoder (the README's inversion
command with ``--inversion-batch``), saves its encoder as a weights directory and adds it to the encoders.

Runs go ``--jobs`` at a time in subprocesses (on one GPU: small memory fractions, one shared persistent
compilation cache, so seeds after the first reuse the compiled step); no TensorFlow is imported. Every
finished run is appended to ``OUT/runs.jsonl`` at once; ``OUT/summary.md`` / ``summary.json`` are replaced
after each; ``--summarise`` rebuilds them from stored ``runs.jsonl`` files. ``--deadline`` stops launching
runs after that many seconds. Concurrent first compiles are slow (15 at once on a 16-core host took over
240 s each): give ``--run-timeout`` room for them.

    python benchmarks/ifer/thesis_sweep.py --out OUT --encoder inv300=/work/exp/ifer/encoder_inv300 \
        --invert 2000 --decoder D --identity I --lrs 1e-4 3e-4 --steps 600 1500 --seeds 0 1 2 --jobs 16
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks.common import mean_sd  # noqa: E402
from data_pipelines.atomic import atomic_write, atomic_write_json  # noqa: E402


def child_env(out: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(out, "jax_cache"))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run(cmd: list[str], log: str, env: dict[str, str], timeout: float) -> int:
    with open(log, "w") as f:
        try:
            return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout, cwd=ROOT).returncode
        except subprocess.TimeoutExpired:
            return 124


def invert(a: argparse.Namespace, env: dict[str, str]) -> str:
    """Train the inversion encoder; returns the weights directory of its encoder."""
    from fer_jax.core import init_from

    workdir = os.path.join(a.out, f"inv{a.invert}")
    spec = (f"configs/ifer/synthface_inversion.py:tiny,decoder={a.decoder},identity={a.identity},"
            f"steps={a.invert},seed=0,align={a.align}")
    cmd = [sys.executable, "-m", "benchmarks.ifer.stills_run", "inversion", "--workdir", workdir,
           "--config", spec, "--set", f"input.batch_size={a.inversion_batch}",
           "--set", f"eval_every={max(a.invert // 4, 1)}", "--set", f"ckpt_every={a.invert}",
           "--set", "progress_bar=False", "--set", "tensorboard=False"]
    t0 = time.time()
    rc = run(cmd, workdir + ".log", env, a.run_timeout * 4)
    if rc:
        raise SystemExit(f"inversion failed (rc {rc}); see {workdir}.log")
    raw = init_from.read_source(init_from.InitFrom(source=workdir, checkpoint="latest", load={"x": "x"}))
    weights = os.path.join(a.out, f"encoder_inv{a.invert}")
    init_from.save_weights(weights, {"encoder": raw["encoder"]})
    print(json.dumps({"inversion": workdir, "seconds": round(time.time() - t0, 1)}), flush=True)
    return weights


def job_command(a: argparse.Namespace, job: dict) -> list[str]:
    words = ["tiny", f"seed={job['seed']}", f"steps={job['steps']}"]
    if job["variant"] == "scratch":
        words.append("scratch")
    else:
        words.append(f"inversion={job['encoder_path']}")
        if job["variant"] == "linear":
            words.append("linear")
    return [sys.executable, "-m", "benchmarks.ifer.stills_run", "fer", "--workdir", job["workdir"],
            "--config", "configs/ifer/synthface_fer.py:" + ",".join(words), "--fer-val", str(a.fer_val),
            "--set", f"optim.lr={job['lr']}", "--set", "input.batch_size=16", "--set", "input.eval_batch_size=30",
            "--set", "eval_every=0", "--set", f"ckpt_every={job['steps']}", "--set", "progress_bar=False",
            "--set", "tensorboard=False"]


def run_job(a: argparse.Namespace, job: dict, env: dict[str, str]) -> dict:
    t0 = time.time()
    rc = run(job_command(a, job), job["workdir"] + ".log", env, a.run_timeout)
    row = {k: v for k, v in job.items() if k not in ("workdir", "encoder_path")}
    row.update(rc=rc, seconds=round(time.time() - t0, 1))
    if rc == 0:
        with open(os.path.join(job["workdir"], "stills_run.json")) as f:
            report = json.load(f)
        row.update(val_war=report["val"]["val/war"], test_war=report["test"]["test/war"])
    return row


def run_key(row: dict) -> tuple:
    return row["encoder"], row["variant"], row["lr"], row["steps"], row["seed"]


def summarise(rows: list[dict]) -> tuple[str, dict]:
    """Per setting: val / test mean over seeds; per (encoder, variant): the setting with the best val mean."""
    ok = [r for r in rows if r["rc"] == 0]
    groups: dict[tuple, list[dict]] = {}
    for r in ok:
        groups.setdefault((r["encoder"], r["variant"], r["lr"], r["steps"]), []).append(r)
    lines = ["| encoder | variant | lr | steps | seeds | val WAR | test WAR |", "|---|---|---|---|---|---|---|"]
    best: dict[str, dict] = {}
    for key in sorted(groups):
        g = sorted(groups[key], key=lambda r: r["seed"])
        val, test = [r["val_war"] for r in g], [r["test_war"] for r in g]
        lines.append(f"| {key[0]} | {key[1]} | {key[2]:g} | {key[3]} | {len(g)} | {mean_sd(val)} | {mean_sd(test)} |")
        name = f"{key[0]}/{key[1]}"
        vmean = sum(val) / len(val)
        if name not in best or (len(g), vmean) > (best[name]["seeds"], best[name]["val_mean"]):
            best[name] = dict(lr=key[2], steps=key[3], seeds=len(g), val_mean=vmean, test=[round(t, 4) for t in test],
                              test_seeds=[r["seed"] for r in g], test_mean_sd=mean_sd(test))
    lines += ["", "Chosen on validation (most seeds, then best mean val WAR):", "",
              "| encoder / variant | lr | steps | test WAR per seed | test WAR mean ± sd |", "|---|---|---|---|---|"]
    for name, b in sorted(best.items()):
        lines.append(f"| {name} | {b['lr']:g} | {b['steps']} | {' / '.join(f'{t:.3f}' for t in b['test'])} | "
                     f"{b['test_mean_sd']} |")
    done = {run_key(r) for r in ok}
    failed = [r for r in rows if r["rc"] != 0 and run_key(r) not in done]  # a rerun that succeeded replaces it
    if failed:
        lines += ["", f"{len(failed)} run(s) failed: " + ", ".join(
            f"{r['encoder']}/{r['variant']}/lr{r['lr']:g}/{r['steps']}/s{r['seed']} rc {r['rc']}" for r in failed)]
    return "\n".join(lines) + "\n", {"chosen": best, "rows": rows}


def write_summary(out: str, rows: list[dict]) -> str:
    """``OUT/summary.md`` and ``summary.json`` of ``rows`` (temporary name, then rename); returns the table."""
    table, summary = summarise(rows)
    atomic_write(os.path.join(out, "summary.md"), table)
    atomic_write_json(os.path.join(out, "summary.json"), summary, indent=1)
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--summarise", nargs="+", default=None, metavar="RUNS_JSONL",
                   help="only rebuild OUT/summary.md and summary.json from stored runs.jsonl files (later rows count too)")
    p.add_argument("--encoder", action="append", default=[], metavar="NAME=PATH",
                   help="an inversion encoder (workdir or weights directory); repeatable")
    p.add_argument("--invert", type=int, default=0, help="first train an inversion encoder for this many steps")
    p.add_argument("--inversion-batch", type=int, default=8)
    p.add_argument("--align", default="random_z", choices=("random_z", "xhat"),
                   help="the inversion's alignment target: random-z generations (released) or x̂ (the README's "
                        "first table)")
    p.add_argument("--decoder", default=None)
    p.add_argument("--identity", default=None)
    p.add_argument("--variants", nargs="+", default=["ifer", "linear", "scratch"])
    p.add_argument("--lrs", type=float, nargs="+", default=[3e-4])
    p.add_argument("--steps", type=int, nargs="+", default=[600])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--fer-val", type=int, default=30)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--run-timeout", type=float, default=3600.0)
    p.add_argument("--deadline", type=float, default=0.0, help="seconds after which no run is launched (0: none)")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    if a.summarise:
        print(write_summary(a.out, [json.loads(line) for path in a.summarise for line in open(path) if line.strip()]))
        return 0
    env, t0 = child_env(os.path.abspath(a.out)), time.time()
    encoders = dict(e.split("=", 1) for e in a.encoder)
    encoder_variants = [v for v in a.variants if v != "scratch"]

    def fer_jobs(enc: dict[str, str], variants: list[str]) -> list[dict]:
        jobs = []
        for seed, (name, path), variant, lr, steps in itertools.product(a.seeds, enc.items(), variants, a.lrs,
                                                                         a.steps):
            tag = f"{name}_{variant}_lr{lr:g}_n{steps}_s{seed}"
            jobs.append(dict(encoder=name, encoder_path=path, variant=variant, lr=lr, steps=steps, seed=seed,
                             workdir=os.path.join(a.out, "runs", tag)))
        return jobs  # seed-major: the first seed of every setting compiles, the later ones hit the cache

    os.makedirs(os.path.join(a.out, "runs"), exist_ok=True)
    pending = fer_jobs(encoders, encoder_variants)
    if "scratch" in a.variants:
        pending += fer_jobs({"none": ""}, ["scratch"])
    pending.sort(key=lambda j: j["seed"])
    rows: list[dict] = []
    with ThreadPoolExecutor(max_workers=a.jobs + 1) as pool:
        inv = pool.submit(invert, a, env) if a.invert else None
        running: set = set()
        while pending or running or inv is not None:
            if inv is not None and inv.done():
                try:
                    enc = {f"inv{a.invert}": inv.result()}
                except (SystemExit, Exception) as e:  # the grid on the given encoders still runs
                    print(json.dumps({"inversion_error": str(e)}), flush=True)
                    enc = {}
                pending = sorted(pending + fer_jobs(enc, encoder_variants), key=lambda j: j["seed"])
                inv = None
            late = a.deadline and time.time() - t0 > a.deadline
            while pending and len(running) < a.jobs - (inv is not None) and not late:
                running.add(pool.submit(run_job, a, pending.pop(0), env))
            if late:
                pending = []
            if not running:
                if inv is None:
                    break
                time.sleep(2)
                continue
            done, running = wait(running, timeout=5, return_when=FIRST_COMPLETED)
            for fut in done:
                row = fut.result()
                rows.append(row)
                print(json.dumps(row), flush=True)
                with open(os.path.join(a.out, "runs.jsonl"), "a") as f:
                    f.write(json.dumps(row) + "\n")
                table = write_summary(a.out, rows)
    print(table if rows else "no run finished")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
