"""``fer-jax train --config=configs/mi_fer/synthface.py:tiny --workdir=DIR [--config.x.y=v ...]``.

Re-running the same command on the same workdir resumes from its latest checkpoint. For several
processes (one per host, or several on one machine) give ``--coordinator_address`` (or env
``FER_JAX_COORDINATOR``), ``--num_processes`` and ``--process_id``: ``jax.distributed.initialize``
is called before anything touches a device. On TPU pods / SLURM, ``--distributed`` alone lets JAX
detect the cluster itself. See ``launch/`` for examples.

Resuming with a config that differs from the workdir's ``config.json`` in anything but how long and how
often (``total_steps``, ``eval_every``, ``ckpt_every``, ...: ``fer_jax.core.workdir.RESUMABLE_KEYS``)
stops with exit 2 naming the differing keys; ``--allow_config_change`` continues and records the change
in ``config_changes.jsonl``.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Callable

from absl import flags
from ml_collections import config_flags

_CONFIG_HELP = "config file, optionally with a variant: configs/mi_fer/synthface.py:tiny"


def _define_flags(fv: flags.FlagValues, argv: list[str]) -> None:
    # sys_argv: config_flags finds the --config.x.y overrides to define in it (default: sys.argv).
    config_flags.DEFINE_config_file("config", None, _CONFIG_HELP, lock_config=True, flag_values=fv,
                                    sys_argv=argv)
    flags.DEFINE_string("workdir", None, "directory for checkpoints, metrics and summaries", flag_values=fv)
    flags.DEFINE_bool("allow_config_change", False, "resume a workdir whose config.json differs in keys other "
                      "than total_steps, eval_every, ckpt_every, ... (recorded in config_changes.jsonl)",
                      flag_values=fv)
    define_distributed_flags(fv)


def define_distributed_flags(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("coordinator_address", os.environ.get("FER_JAX_COORDINATOR"),
                        "host:port of process 0 for jax.distributed (env FER_JAX_COORDINATOR)", flag_values=fv)
    flags.DEFINE_integer("num_processes", None, "number of processes (jax.distributed)", flag_values=fv)
    flags.DEFINE_integer("process_id", None, "index of this process (jax.distributed)", flag_values=fv)
    flags.DEFINE_bool("distributed", False, "call jax.distributed.initialize() with cluster "
                      "auto-detection (TPU pods, SLURM)", flag_values=fv)


def init_distributed(fv: flags.FlagValues) -> None:
    """Start jax.distributed when asked to; a no-op for single-process runs."""
    explicit = fv.coordinator_address or fv.num_processes or fv.process_id is not None
    if not (explicit or fv.distributed):
        return
    import jax

    if explicit:
        missing = [n for n in ("coordinator_address", "num_processes", "process_id") if fv[n].value is None]
        if missing:
            raise flags.ValidationError(f"multi-process run needs --{', --'.join(missing)}")
        jax.distributed.initialize(coordinator_address=fv.coordinator_address,
                                   num_processes=fv.num_processes, process_id=fv.process_id)
    else:
        jax.distributed.initialize()


def start(fv: flags.FlagValues, prog: str) -> bool:
    """jax.distributed (when asked for) and logging, the start every multi-process command shares;
    False (after printing why) on inconsistent distributed flags."""
    try:
        init_distributed(fv)
    except flags.ValidationError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return False
    setup_logging()
    return True


def setup_logging() -> None:
    """fer_jax's own INFO messages (start, resume) on stderr; library loggers stay at WARNING.

    Records propagate to the root logger (so pytest's caplog and user handlers see them); a handler
    is added only where the root logger has none, so nothing is printed twice.
    """
    import logging

    logger = logging.getLogger("fer_jax")
    logger.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logger.addHandler(handler)


def parse(argv: list[str], prog: str, define: Callable[[flags.FlagValues, list[str]], None]
          ) -> flags.FlagValues | None:
    """Parse ``argv`` into a fresh FlagValues (so main() can be called twice in one process)."""
    fv = flags.FlagValues()
    define(fv, [prog] + list(argv))
    try:
        with warnings.catch_warnings():  # config_flags loads config files with the deprecated load_module()
            warnings.filterwarnings("ignore", "the load_module", DeprecationWarning)
            fv([prog] + list(argv))
    except (KeyError, AttributeError) as e:  # an override naming a field the config lacks
        print(f"{prog}: config has no field {e}", file=sys.stderr)
        return None
    except (flags.Error, FileNotFoundError, ValueError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return None
    return fv


def record_command(workdir: str, argv: list[str]) -> None:
    """Write ``workdir/command.txt`` (the model card's "how it was trained") on a new run, process 0 only.

    A resumed run keeps the command that started it (the first command that got as far as a
    checkpoint defines the run); a start that failed before any checkpoint is replaced.
    """
    import shlex

    import jax

    path = os.path.join(workdir, "command.txt")
    ckpts = os.path.join(workdir, "checkpoints")
    if jax.process_index() != 0 or (os.path.exists(path) and os.path.isdir(ckpts) and os.listdir(ckpts)):
        return
    from data_pipelines.atomic import atomic_write

    os.makedirs(workdir, exist_ok=True)
    atomic_write(path, "fer-jax train " + shlex.join(argv) + "\n")


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "--helpfull") for a in argv):
        print(__doc__)
        return 0
    fv = parse(argv, "fer-jax train", _define_flags)
    if fv is None:
        return 2
    if fv.config is None or not fv.workdir:
        print("fer-jax train: --config and --workdir are required", file=sys.stderr)
        return 2
    if not start(fv, "fer-jax train"):
        return 2
    from fer_jax.core.registry import resolve_method
    from fer_jax.core.settings import ConfigError
    from fer_jax.train.config_check import validate

    try:  # before the workdir is touched: a refused config (e.g. best_metric on a test split) leaves nothing
        validate(fv.config, resolve_method(fv.config.method))
    except ConfigError as e:
        print(f"fer-jax train: {e}", file=sys.stderr)
        return 2
    record_command(fv.workdir, argv)
    from fer_jax.core.workdir import ConfigChangeError
    from fer_jax.train.trainer import NonFiniteLossError, train

    try:
        result = train(fv.config, fv.workdir, allow_config_change=fv.allow_config_change)
    except NonFiniteLossError as e:
        print(f"fer-jax train: {e}", file=sys.stderr)
        return 1
    except ConfigChangeError as e:
        print(f"fer-jax train: {e}", file=sys.stderr)
        return 2
    from data_pipelines.atomic import json_safe

    print(json.dumps(json_safe({k: v for k, v in result.items() if k != "model"}), sort_keys=True))
    return 0
