"""IFER's FER heads on *frozen* inversion codes (ifer README): is the expression readable from the codes the
inversion encoder gives, before any fine-tuning?

The stills are the README thesis split (identities 216-255 train, 256-285 test, 32 px, lab apex stills). The
encoder of ``--inversion`` (a workdir or weights directory, as ``inversion=`` of ``configs/ifer``) codes them
once; each head then trains alone with AdamW ``--lr`` (default 1e-3, wd 0.05), batch 16, no mixup, for
``--steps`` steps, two seeds, through the shared trainer (:class:`HeadProbe`, a method whose batches are the
codes; one workdir per head and seed under ``--workdir``, default a temporary directory). Heads: ``logreg``
(converged logistic regressions on the standardised mean and structure codes), ``linear`` (ablation a) and
``modulation`` (the paper's); ``_z`` = the mean code standardised with the training codes' statistics;
``modulation_std`` = the modulated conv in standard parametrisation (weights N(0, 1/fan_in), no equalised-lr
scale: Adam then moves them sqrt(fan_in) faster).

    python benchmarks/ifer/head_probe.py --inversion /work/exp/ifer/encoder_inv300 \
        --heads linear modulation linear_z modulation_z modulation_std
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fer_jax.core.method import MethodBase  # noqa: E402
from fer_jax.core.settings import ConfigError, RunSettings, parse  # noqa: E402
from fer_jax.methods.ifer.model import LinearHead, ModulationHead  # noqa: E402
from fer_jax.train.optim import OptimSettings, guarded_update, make_tx  # noqa: E402

HEADS = ("linear", "modulation", "modulation_std")


def standard_parametrisation(head) -> None:
    """Fold the equalised-lr scales of the head's modulated conv (and its style map) into the weights."""
    for layer in (head.mod, head.mod.modulation):
        layer.weight[...] = layer.weight[...] * layer.scale
        layer.scale = 1.0


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """``config.probe``: the head (one of :data:`HEADS`) and the shapes of the codes it reads."""

    head: str = "linear"
    style_dim: int = 0
    channels: int = 0

    def __post_init__(self):
        if self.head not in HEADS:
            raise ConfigError(f"probe.head must be one of {HEADS}, got {self.head!r}")


class ProbeState(nnx.Module):
    """One FER head on frozen codes and its optimizer."""

    def __init__(self, run: RunSettings, rngs: nnx.Rngs):
        p, optim, n = run.sections["probe"], run.sections["optim"], run.train.num_classes
        if p.head == "linear":
            self.head = LinearHead(p.style_dim, n, rngs=rngs)
        else:
            self.head = ModulationHead(p.channels, p.style_dim, p.channels, n, rngs=rngs)
            if p.head == "modulation_std":
                standard_parametrisation(self.head)
        self.opt = nnx.Optimizer(self.head, make_tx(optim, run.train.total_steps), wrt=nnx.Param)


class HeadProbe(MethodBase):
    """A head alone on precomputed codes, for the shared trainer: batches ``w`` (W+ codes), ``s`` (structure
    codes) and ``label``; cross-entropy, no mixup, no label smoothing."""

    name = "ifer_head_probe"
    settings = {"probe": ProbeSettings, "optim": OptimSettings}
    evaluators = ("classification",)

    def create(self, run: RunSettings, rngs: nnx.Rngs) -> ProbeState:
        return ProbeState(run, rngs)

    def train_step(self, state: ProbeState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
        def loss_fn(head):
            return optax.softmax_cross_entropy_with_integer_labels(head(batch["w"], batch["s"]), batch["label"]).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(state.head)
        guarded_update(state.head, state.opt, loss, grads)
        return {"loss/ce": loss}

    def eval_step(self, state: ProbeState, batch: dict) -> dict[str, jax.Array]:
        return {"logits": state.head(batch["w"], batch["s"])}


def probe_config(head: str, style_dim: int, channels: int, steps: int, lr: float, seed: int) -> ml_collections.ConfigDict:
    """AdamW at a constant ``lr`` (weight decay 0.05, no clipping), batch 16, evaluated once at the end."""
    c = ml_collections.ConfigDict()
    c.method, c.seed, c.num_classes, c.total_steps = "benchmarks.ifer.head_probe:HeadProbe", seed, 7, steps
    c.log_every, c.eval_every, c.ckpt_every, c.keep_ckpts = 1, 0, steps, 1
    c.progress_bar, c.tensorboard = False, False
    c.probe = ml_collections.ConfigDict(dict(head=head, style_dim=style_dim, channels=channels))
    c.optim = ml_collections.ConfigDict(dict(name="adamw", lr=lr, weight_decay=0.05, schedule="constant",
                                             warmup_steps=0, grad_clip=0.0))
    c.input = ml_collections.ConfigDict(dict(dataset="random", batch_size=16, eval_batch_size=70))
    return c


def train_head(kind: str, train_codes, test_codes, ytr, yte, steps: int, lr: float, seed: int,
               workdir: str) -> tuple[float, list[float]]:
    """(test accuracy, per-step train CE) of head ``kind`` trained by the shared trainer on the codes."""
    from fer_jax.core.array_iterator import ArrayIterator
    from fer_jax.train.trainer import train

    tr = {"w": np.asarray(train_codes[0]), "s": np.asarray(train_codes[1]), "label": np.asarray(ytr, np.int32)}
    te = {"w": np.asarray(test_codes[0]), "s": np.asarray(test_codes[1]), "label": np.asarray(yte, np.int32)}
    c = probe_config(kind, tr["w"].shape[-1], tr["s"].shape[-1], steps, lr, seed)
    out = train(c, workdir, train_iter=ArrayIterator(tr, int(c.input.batch_size), seed=seed),
                eval_iter_fn=lambda: ArrayIterator(te, int(c.input.eval_batch_size), train=False))
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        losses = [r["loss/ce"] for r in map(json.loads, f) if r["split"] == "train"]
    return float(out["val"]["val/war"]), losses


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inversion", required=True, help="the inversion run (workdir or weights directory)")
    p.add_argument("--heads", nargs="+", default=["linear", "modulation"])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--workdir", default=None, help="where the head runs keep their workdirs (default: a temporary "
                   "directory, removed at the end)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        return probe(a, a.workdir or tmp)


def probe(a: argparse.Namespace, workdir: str) -> int:
    """Code the stills once with the inversion encoder, then fit each head of ``a.heads`` on the codes."""
    from benchmarks.ifer.stills_run import load_config
    from data_pipelines.synthface_stills import render_stills
    from fer_jax.core import init_from
    from fer_jax.core.registry import get_method

    c = load_config(f"configs/ifer/synthface_fer.py:tiny,inversion={a.inversion}")
    method = get_method("ifer")
    state = method.create(parse(c, method), nnx.Rngs(0))
    init_from.apply(c, state)
    size = int(c.decoder.size)
    code = nnx.jit(lambda net, x: net.codes(x * 2.0 - 1.0))

    def codes(images):
        x = jnp.asarray(images, jnp.float32) / 255.0
        parts = [code(state.net, x[i:i + 70]) for i in range(0, len(x), 70)]
        return [jnp.concatenate([q[k] for q in parts]) for k in range(2)]

    tr, te = render_stills(40, size, start=216), render_stills(30, size, start=256)
    (wtr, str_), (wte, ste) = codes(tr["image"]), codes(te["image"])
    mu, sd = wtr.mean((0, 1)), wtr.std((0, 1)) + 1e-6
    ytr, yte = jnp.asarray(tr["label"]), jnp.asarray(te["label"])
    for name in a.heads:
        if name == "logreg":  # the mean code, standardised, by a converged logistic regression
            from sklearn.linear_model import LogisticRegression

            flat = lambda t: np.asarray(t).reshape(len(t), -1)  # noqa: E731
            s_mu, s_sd = flat(str_).mean(0), flat(str_).std(0) + 1e-6
            for what, xtr, xte in (("mean code", np.asarray(((wtr - mu) / sd).mean(1)), np.asarray(((wte - mu) / sd).mean(1))),
                                   ("structure code", (flat(str_) - s_mu) / s_sd, (flat(ste) - s_mu) / s_sd)):
                for cost in (0.01, 1.0):
                    clf = LogisticRegression(C=cost, max_iter=2000).fit(xtr, np.asarray(ytr))
                    print(json.dumps({"head": f"logreg on the {what}, C={cost}",
                                      "train_acc": round(clf.score(xtr, np.asarray(ytr)), 3),
                                      "test_acc": round(clf.score(xte, np.asarray(yte)), 3)}), flush=True)
            continue
        z = name.endswith("_z")
        kind = name.removesuffix("_z")
        train_codes = ((wtr - mu) / sd if z else wtr, str_)
        test_codes = ((wte - mu) / sd if z else wte, ste)
        if kind not in HEADS:
            raise SystemExit(f"unknown head {name!r}")
        for seed in a.seeds:
            acc, losses = train_head(kind, train_codes, test_codes, ytr, yte, a.steps, a.lr, seed,
                                     os.path.join(workdir, f"{name}_seed{seed}"))
            print(json.dumps({"head": name, "seed": seed, "lr": a.lr, "steps": a.steps, "test_acc": round(acc, 3),
                              "train_ce": [round(float(np.mean(losses[i:i + 50])), 3)
                                           for i in range(0, a.steps, max(50, a.steps // 6))]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
