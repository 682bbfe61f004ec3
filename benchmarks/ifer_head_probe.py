"""IFER's FER heads on *frozen* inversion codes (ifer README): is the expression readable from the codes the
inversion encoder gives, before any fine-tuning?

The stills are the README thesis split (identities 216-255 train, 256-285 test, 32 px, lab apex stills). The
encoder of ``--inversion`` (a workdir or weights directory, as ``inversion=`` of ``configs/ifer``) codes them
once; each head then trains alone with AdamW ``--lr`` (default 1e-3, wd 0.05), batch 16, no mixup, for ``--steps`` steps, two
seeds. Heads: ``logreg`` (converged logistic regressions on the standardised mean and structure codes),
``linear`` (ablation a) and ``modulation`` (the paper's); ``_z`` = the mean code standardised
with the training codes' statistics; ``modulation_std`` = the modulated conv in standard parametrisation
(weights N(0, 1/fan_in), no equalised-lr scale: Adam then moves them sqrt(fan_in) faster).

    python benchmarks/ifer_head_probe.py --inversion /work/exp/ifer/encoder_inv300 \
        --heads linear modulation linear_z modulation_z modulation_std
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def standard_parametrisation(head) -> None:
    """Fold the equalised-lr scales of the head's modulated conv (and its style map) into the weights."""
    for layer in (head.mod, head.mod.modulation):
        layer.weight[...] = layer.weight[...] * layer.scale
        layer.scale = 1.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inversion", required=True, help="the inversion run (workdir or weights directory)")
    p.add_argument("--heads", nargs="+", default=["linear", "modulation"])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--lr", type=float, default=1e-3)
    a = p.parse_args(argv)

    import jax.numpy as jnp
    import optax
    from flax import nnx

    from data_pipelines.synthface_stills import render_stills
    from fer_jax.core import init_from
    from fer_jax.core.registry import get_method
    from fer_jax.core.settings import parse
    from fer_jax.methods.ifer.model import LinearHead, ModulationHead
    from fer_jax.methods.ifer.stills_run import load_config

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
    style_dim, channels = wtr.shape[-1], str_.shape[-1]
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
        for seed in a.seeds:
            rngs = nnx.Rngs(seed)
            if kind == "linear":
                head = LinearHead(style_dim, 7, rngs=rngs)
            elif kind in ("modulation", "modulation_std"):
                head = ModulationHead(channels, style_dim, channels, 7, rngs=rngs)
                if kind == "modulation_std":
                    standard_parametrisation(head)
            else:
                raise SystemExit(f"unknown head {name!r}")
            opt = nnx.Optimizer(head, optax.adamw(a.lr, weight_decay=0.05), wrt=nnx.Param)

            @nnx.jit
            def step(head, opt, w, s, y):
                def loss_fn(h):
                    return optax.softmax_cross_entropy_with_integer_labels(h(w, s), y).mean()

                loss, grads = nnx.value_and_grad(loss_fn)(head)
                opt.update(head, grads)
                return loss

            rng, losses = np.random.default_rng(seed), []
            for _ in range(a.steps):
                idx = rng.choice(len(ytr), 16, replace=False)
                losses.append(float(step(head, opt, train_codes[0][idx], train_codes[1][idx], ytr[idx])))
            acc = float((head(*test_codes).argmax(-1) == yte).mean())
            print(json.dumps({"head": name, "seed": seed, "lr": a.lr, "steps": a.steps, "test_acc": round(acc, 3),
                              "train_ce": [round(float(np.mean(losses[i:i + 50])), 3)
                                                  for i in range(0, a.steps, max(50, a.steps // 6))]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
