"""Train every method of ``tiny_methods.TINY`` a few steps, one after another, in this process: the
command the launcher test gives ``launch/local_multiprocess.sh`` (as ``FER_JAX_CMD``), so two processes
start, import and join jax.distributed once for all the methods instead of once per method.

    python tests/train/train_every_method.py train --workdir=W --steps=3 [--coordinator_address=H:P
        --num_processes=N --process_id=I]

Each method trains in ``W/<method>`` through ``fer_jax.train.trainer.train`` with the config that
``tiny_methods.config`` builds.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_methods  # noqa: E402


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["train"])
    p.add_argument("--workdir", required=True)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--methods", default=",".join(sorted(tiny_methods.TINY)))
    p.add_argument("--coordinator_address")
    p.add_argument("--num_processes", type=int)
    p.add_argument("--process_id", type=int)
    args = p.parse_args(argv)
    import jax

    if args.coordinator_address:
        jax.distributed.initialize(coordinator_address=args.coordinator_address,
                                   num_processes=args.num_processes, process_id=args.process_id)
    from fer_jax.train.trainer import train

    for method in args.methods.split(","):
        train(tiny_methods.config(method, args.steps), os.path.join(args.workdir, method))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
