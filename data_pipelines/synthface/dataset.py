"""Write a SynthFace dataset to disk: encoded clips, labels, splits and the identity pool.

Layout of ``out_dir``::

    videos/<clip_id>.mp4      real encoded video (MPEG-4 Part 2, GOP 12, no B-frames by default)
    labels.jsonl              one JSON object per clip (fields in docs/ARCHITECTURE.md §2)
    identity_pool.npz         images uint8 [N, S, S, 3], identity int32 [N]
    identities.json           every identity's parameters and its split (for audits)
    failed.jsonl              only when some clips failed: one {"error": "<file>: <reason>"} per line

Choices:
- ``clips_per_identity`` K means K clips *per expression* per identity, so a dataset holds
  identities x 7 x K clips (the demo's 40 x 7 x 2 = 560).
- Splits are by identity (subject-disjoint): a seeded permutation of the identities, 70/15/15 by
  default (``split_fractions``), with at least one identity in val and test when there are 3 or more.
- Identities ``0 .. N-1`` make the splits; the pool uses the next ``pool_identities`` indices, so it is
  disjoint from every split. Each pool identity gets ``pool_images`` stills with varied pose,
  expression and light.
- In the wild regime each clip's length is drawn in [0.75 T, 1.25 T] (variable length, mean T);
  lab clips have exactly T frames.
- Work is spread over processes (one clip per task; rendering and encoding are both per clip). A
  clip that fails is reported and left out of ``labels.jsonl``; every file is written atomically.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_pipelines.atomic import atomic_write, atomic_write_with
from data_pipelines.synthface.clip import check_request, render_clip, render_face_image
from data_pipelines.synthface.facs import EXPRESSIONS, SynthFaceError
from data_pipelines.synthface.identity import make_identity

FPS = 25.0
SPLITS = ("train", "val", "test")


@dataclass
class GenerateResult:
    """What ``generate`` wrote and what failed (``errors``: one message per failed item)."""

    out_dir: Path
    n_clips: int = 0
    n_pool_images: int = 0
    errors: list[str] = field(default_factory=list)


def assign_splits(n_identities: int, seed: int = 0,
                  fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> dict[int, str]:
    """Identity index -> split name; subject-disjoint by construction and fixed by ``seed``."""
    if n_identities < 1:
        raise SynthFaceError(f"need at least one identity, got {n_identities}")
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise SynthFaceError(f"split fractions must be three non-negative numbers, got {fractions}")
    f = np.asarray(fractions, np.float64) / sum(fractions)
    order = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(104729,))).permutation(
        n_identities)
    n_val = int(round(f[1] * n_identities))
    n_test = int(round(f[2] * n_identities))
    if n_identities >= 3:
        n_val, n_test = max(n_val, 1 if f[1] > 0 else 0), max(n_test, 1 if f[2] > 0 else 0)
    n_train = n_identities - n_val - n_test
    names = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    return {int(i): names[k] for k, i in enumerate(order)}


def clip_seed(seed: int, take: int) -> int:
    """Seed of the ``take``-th clip of an (identity, expression) pair."""
    return int(np.random.SeedSequence([int(seed), int(take)]).generate_state(1)[0])


def clip_length(regime: str, frames: int, seed: int, identity: int = 0, expression: int = 0) -> int:
    """Frames in a clip: ``frames`` in the lab, drawn in [0.75 T, 1.25 T] in the wild."""
    if regime == "lab":
        return int(frames)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(identity),
                                                                              int(expression), 15485863)))
    return int(rng.integers(max(2, math.ceil(0.75 * frames)), math.floor(1.25 * frames) + 1))


def _clip_job(job: dict) -> dict:
    """Render and encode one clip (runs in a worker); returns its label record or an error."""
    from data_pipelines.synthface.video_io import encode_video

    path = Path(job["out_dir"]) / "videos" / f"{job['clip_id']}.mp4"
    try:
        idt = make_identity(job["identity"], job["seed"])
        n = clip_length(job["regime"], job["frames"], job["clip_seed"], job["identity"],
                        job["expression"])
        frames, labels = render_clip(idt, job["expression"], job["regime"], n, job["size"],
                                     job["clip_seed"], job.get("head_motion", 0.0))
        encode_video(frames, path, fps=FPS, codec=job["codec"])
    except Exception as exc:  # a batch job records the failure and carries on
        return {"clip_id": job["clip_id"], "error": f"{path}: {exc}"}
    return {
        "clip_id": job["clip_id"],
        "file": f"videos/{path.name}",
        "expression": labels["expression"],
        "expression_name": labels["expression_name"],
        "identity": labels["identity"],
        "split": job["split"],
        "apex_index": labels["apex_index"],
        "au_intensity": np.round(labels["au_intensity"], 3).tolist(),
        "regime": job["regime"],
        "fps": FPS,
        "n_frames": int(len(frames)),
    }


def _pool_job(job: dict) -> dict:
    try:
        idt = make_identity(job["identity"], job["seed"])
        images = np.stack([render_face_image(idt, job["size"], clip_seed(job["seed"], k))
                           for k in range(job["images"])])
    except Exception as exc:
        return {"identity": job["identity"], "error": f"pool identity {job['identity']}: {exc}"}
    return {"identity": job["identity"], "images": images}


def generate(out_dir: str | os.PathLike, identities: int = 40, clips_per_identity: int = 2,
             regime: str = "lab", frames: int = 32, size: int = 112, seed: int = 0,
             pool_identities: int = 100, pool_images: int = 8, workers: int | None = None,
             codec: str = "mpeg4", split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
             progress: bool = False, head_motion: float = 0.0) -> GenerateResult:
    """Render, encode and label a SynthFace dataset under ``out_dir`` (see the module docstring).

    Deterministic for a given argument set (the worker count does not change the output).
    ``workers``: processes to use; ``None`` = all CPU cores, 0 or 1 = in this process.
    ``head_motion``: the lab regime's head sway (0 = head fixed; see ``scene.lab_scene``).
    """
    check_request(regime, frames, size)
    if head_motion < 0:
        raise SynthFaceError(f"head_motion must be >= 0, got {head_motion}")
    if identities < 1 or clips_per_identity < 1 or pool_identities < 0 or pool_images < 1:
        raise SynthFaceError("identities and clips_per_identity must be >= 1, pool_identities >= 0, "
                             "pool_images >= 1")
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    splits = assign_splits(identities, seed, split_fractions)
    base = dict(out_dir=str(out), regime=regime, frames=int(frames), size=int(size), seed=int(seed),
                codec=codec, head_motion=float(head_motion))
    jobs = [dict(base, identity=i, expression=e, split=splits[i], clip_seed=clip_seed(seed, k),
                 clip_id=f"{regime}_id{i:04d}_{EXPRESSIONS[e]}_{k}")
            for i in range(identities) for e in range(len(EXPRESSIONS))
            for k in range(clips_per_identity)]
    pool_ids = list(range(identities, identities + pool_identities))
    pool_jobs = [dict(identity=i, seed=int(seed), size=int(size), images=int(pool_images))
                 for i in pool_ids]
    result = GenerateResult(out)
    records: dict[str, dict] = {}
    pool: dict[int, np.ndarray] = {}
    for rec in _run(jobs, pool_jobs, workers, progress):
        if "error" in rec:
            result.errors.append(rec["error"])
        elif "images" in rec:
            pool[rec["identity"]] = rec["images"]
        else:
            records[rec["clip_id"]] = rec
    ordered = [records[j["clip_id"]] for j in jobs if j["clip_id"] in records]
    atomic_write(out / "labels.jsonl", "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in ordered))
    ids = [i for i in pool_ids if i in pool]
    images = (np.concatenate([pool[i] for i in ids]) if ids
              else np.zeros((0, size, size, 3), np.uint8))
    identity = np.repeat(np.asarray(ids, np.int32), pool_images)

    atomic_write_with(out / "identity_pool.npz",
                      lambda fh: np.savez_compressed(fh, images=images, identity=identity))
    meta = {"seed": int(seed), "regime": regime, "frames": int(frames), "size": int(size),
            "fps": FPS, "codec": codec, "clips_per_identity": int(clips_per_identity),
            "head_motion": float(head_motion),
            "expressions": list(EXPRESSIONS), "splits": {str(k): v for k, v in splits.items()},
            "pool_identities": pool_ids,
            "identities": [make_identity(i, seed).to_json() for i in range(identities + pool_identities)]}
    atomic_write(out / "identities.json", json.dumps(meta, indent=1))
    failed = out / "failed.jsonl"  # the record of what a rerun should look at; absent when all worked
    if result.errors:
        atomic_write(failed, "".join(json.dumps({"error": e}) + "\n" for e in result.errors))
    elif failed.exists():
        failed.unlink()
    result.n_clips, result.n_pool_images = len(ordered), int(len(images))
    return result


def _run(jobs: list[dict], pool_jobs: list[dict], workers: int | None, progress: bool):
    """Yield job results, in a process pool unless ``workers`` <= 1."""
    from tqdm.auto import tqdm

    tasks = [(_clip_job, j) for j in jobs] + [(_pool_job, j) for j in pool_jobs]
    bar = tqdm(total=len(tasks), desc="synthface", unit="item", disable=not progress)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    try:
        if workers <= 1:
            for fn, job in tasks:
                yield fn(job)
                bar.update()
            return
        # spawn, not fork: the caller may already hold JAX/TF threads, which fork does not survive.
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            futures = [ex.submit(fn, job) for fn, job in tasks]
            for fut in cf.as_completed(futures):
                yield fut.result()
                bar.update()
    finally:
        bar.close()
