"""Examples/s of the tf.data input pipeline on a built SynthFace dataset at the demo config.

    python benchmarks/bench_input.py [--size 112 --segments 3 --batch 64] [--data-dir D] [--json]

Builds (once, into --data-dir or a temp dir) a small SynthFace dataset, then times training batches
(shuffle, TSN sampling, augmentation, batching; TensorFlow on the CPU) after a warm-up. The figure to
compare is the model's consumption rate in examples/s: the goal is >= 5x headroom.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time


def build(data_dir: str, args) -> str:
    from data_pipelines.synthface_tfds import SynthFace

    config = SynthFace.make_config(size=args.size, identity_backbone=args.identity_backbone,
                                   identities=args.identities, clips_per_identity=1, frames=args.frames, seed=0)
    from fer_jax.identity import get_backbone  # builders take the embedder from their caller

    SynthFace(data_dir=data_dir, config=config, workers=args.workers,
              backbone_factory=functools.partial(get_backbone, args.identity_backbone)).download_and_prepare()
    return config.name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="reuse/build the dataset here (default: a temp dir)")
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--segments", type=int, default=3)
    p.add_argument("--batch", type=int, default=64, help="global batch (one process)")
    p.add_argument("--identities", type=int, default=20)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--identity-backbone", default="dlib")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batches", type=int, default=30, help="timed batches")
    p.add_argument("--cache", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.data_dir is None:
        with tempfile.TemporaryDirectory(prefix="bench_input_") as tmp:
            return run(tmp, args)
    return run(args.data_dir, args)


def run(data_dir: str, args) -> int:
    t0 = time.perf_counter()
    config_name = build(data_dir, args)
    build_s = time.perf_counter() - t0

    from data_pipelines.input_pipeline import make_iterator

    cfg = dict(dataset="synthface", data_dir=data_dir, identity_backbone=args.identity_backbone, size=args.size,
               gop=12, mode="accumulate", batch_size=args.batch, eval_batch_size=args.batch,
               segments=args.segments, segment_mode="tsn", shuffle_buffer=1000, augment=True, cache=args.cache,
               builder_config=config_name)
    it = make_iterator(cfg, "train", seed=0, process_index=0, process_count=1)
    for _ in range(3):  # warm-up: pipeline construction, first file reads
        next(it)
    t0 = time.perf_counter()
    for _ in range(args.batches):
        next(it)
    dt = time.perf_counter() - t0
    result = {"examples_per_s": args.batches * args.batch / dt, "batches": args.batches, "batch": args.batch,
              "size": args.size, "segments": args.segments, "cache": args.cache, "cpus": os.cpu_count(),
              "train_examples": it.local_count, "build_s": round(build_s, 1)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"input pipeline: {result['examples_per_s']:.0f} examples/s "
              f"(size {args.size}, K={args.segments}, batch {args.batch}, {os.cpu_count()} CPUs, "
              f"cache={args.cache}; dataset built in {build_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
