"""Subprocess helpers for the trainer tests: run the toy method on N devices / N processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def env(devices: int = 1, **extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    e["PYTHONPATH"] = os.pathsep.join([HERE, REPO, e.get("PYTHONPATH", "")])
    e["JAX_PLATFORMS"] = "cpu"
    e.update(extra)
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_toy(workdir: str, out: str, overrides: list[str], devices: int = 1, processes: int = 1,
            timeout: float = 300) -> None:
    """``run_toy.py`` on ``devices`` CPU devices per process, ``processes`` jax.distributed processes."""
    cmd = [sys.executable, os.path.join(HERE, "run_toy.py"), workdir, out, *overrides]
    if processes == 1:
        subprocess.run(cmd, env=env(devices), check=True, timeout=timeout, capture_output=True)
        return
    port = free_port()
    procs = [subprocess.Popen(cmd, env=env(devices, TOY_COORDINATOR=f"localhost:{port}",
                                           TOY_NUM_PROCESSES=str(processes), TOY_PROCESS_ID=str(i)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for i in range(processes)]
    try:
        outs = [p.communicate(timeout=timeout)[0].decode() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for i, (p, text) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"process {i} failed:\n{text[-3000:]}"


def read_metrics(workdir: str, split: str | None = "train") -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]
