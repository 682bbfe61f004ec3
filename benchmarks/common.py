"""Shared pieces of the benchmarks: interleaved warm timing, machine description, JSON output.

Machines here are shared and noisy, so every benchmark times its candidates *interleaved* (A, B, A, B,
...) after a warm-up, and reports the minimum (least disturbed) and median of the repeats; ratios are
always taken between figures of the same run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable

from data_pipelines.atomic import atomic_write_json, json_safe


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each ``fns`` entry: ``warmup`` untimed rounds, then ``repeats`` interleaved rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t)
    return times


def stats(ts: list[float], scale: float = 1e3) -> dict[str, float]:
    """``{"min", "median"}`` of ``ts`` (seconds) in ms by default."""
    return {"min": round(min(ts) * scale, 3), "median": round(statistics.median(ts) * scale, 3)}


def mean_sd(xs: list[float | None], fmt: str = ".3f", unit: str = "", one: str = "") -> str:
    """mean ± sd (ddof 1) of the finite values of ``xs`` for a results table: "–" when there are none, the
    value alone (followed by ``one``) when there is one."""
    import math

    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return "–"
    if len(xs) == 1:
        return f"{xs[0]:{fmt}}{unit}{one}"
    return f"{statistics.mean(xs):{fmt}}{unit} ± {statistics.stdev(xs):{fmt.lstrip('+')}}{unit}"


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU count and model, JAX backend and device kind."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    dev = jax.devices()[0]
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "jax": jax.__version__, "backend": jax.default_backend(),
            "device": getattr(dev, "device_kind", str(dev)), "python": sys.version.split()[0],
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}


def write_json(obj: Any, path: str | None) -> None:
    """Print ``obj`` as JSON, or write it to ``path`` atomically (temp name, then rename)."""
    if not path:
        print(json.dumps(json_safe(obj), indent=1, default=float))
        return
    atomic_write_json(path, obj, indent=1, default=float)


def block(x: Any) -> Any:
    """Wait for every array in ``x`` (JAX dispatch is asynchronous)."""
    import jax

    return jax.block_until_ready(x)


def step_runner(compiled: Callable, state: Any, batch: Any) -> Callable[[int], float]:
    """``run(n)``: n calls of a compiled, state-donating ``(state, batch, step) -> (state, metrics)``, timed
    until the device is done; the state carries over between calls (it was donated)."""
    import jax
    import numpy as np

    holder = {"state": state, "step": 0}

    def run(n: int) -> float:
        t = time.perf_counter()
        st = holder["state"]
        for _ in range(n):
            st, metrics = compiled(st, batch, np.int32(holder["step"]))
            holder["step"] += 1
        jax.block_until_ready((st, metrics))
        holder["state"] = st
        return time.perf_counter() - t

    return run


def resnet_conv_flops(blocks: tuple[int, ...] | list[int], width: int, size: int, *, padded_taps: bool = True) -> float:
    """Multiply-adds x 2 of a ResNet trunk's convolutions (7x7/2 stem, 3x3/2 max-pool, BasicBlock stages of
    ``blocks``) for one [size, size, 3] image; norms, ReLUs and pooling, well under 1% at ResNet-18 width,
    are not counted. ``padded_taps=True`` is the usual convention (every kernel tap counts, as in the
    published 1.8 GMACs of ResNet-18 at 224²); ``False`` counts only taps that land inside the image, as
    XLA's cost analysis does. Shared by the MI-FER and STT benchmarks."""
    import numpy as np

    def taps(h: int, k: int, stride: int) -> tuple[float, int]:
        out = -(-h // stride)
        if padded_taps:
            return float(out * k), out
        lo = max((out - 1) * stride + k - h, 0) // 2  # XLA "SAME": the smaller half of the padding first
        starts = np.arange(out) * stride - lo
        return float(np.clip(np.minimum(starts + k, h) - np.maximum(starts, 0), 0, None).sum()), out

    def conv(h, k, cin, cout, stride):
        t, out = taps(h, k, stride)
        return 2.0 * t * t * cin * cout, out

    total, h = conv(size, 7, 3, width, 2)
    h = -(-h // 2)  # 3x3/2 max-pool
    ch = width
    for i, n in enumerate(blocks):
        out = width * 2**i
        for j in range(n):
            stride = 1 if i == 0 or j else 2
            f1, h1 = conv(h, 3, ch, out, stride)
            f2, _ = conv(h1, 3, out, out, 1)
            total += f1 + f2 + (conv(h, 1, ch, out, stride)[0] if stride != 1 or ch != out else 0.0)
            h, ch = h1, out
    return total
