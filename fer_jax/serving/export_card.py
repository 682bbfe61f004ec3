"""The text files of an export bundle: the model card (``README.md``) and ``load_example.py``.

The card is generated from what the workdir holds, never typed by hand: its config (data, protocol,
model), the built dataset's protocol text where its TFDS folder is reachable, its evaluation files
(``eval_*.json`` of ``fer-jax train`` / ``fer-jax eval``, the demo's ``test_report.json`` with the identity
audit) and the command that trained it where one was recorded (``command.txt`` / ``train_command.txt``
in the workdir, or the demo's ``report.json`` beside it).
"""

from __future__ import annotations

import glob
import json
import os
import re
from typing import Any

import ml_collections

SKIP_KEYS = ("confusion", "per_class_recall", "split", "step", "num_examples")


def _load(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def evaluations(workdir: str) -> list[dict[str, Any]]:
    """The latest evaluation per name: ``eval_<step>.json`` is ``val``, ``eval_<name>_<step|best|latest>.json``."""
    latest: dict[str, tuple[int, str, dict]] = {}
    for path in glob.glob(os.path.join(workdir, "eval_*.json")):
        m = re.fullmatch(r"eval_(?:(.+)_)?(\d+|best|latest)\.json", os.path.basename(path))
        data = _load(path)
        if not m or data is None:
            continue
        name = m.group(1) or "val"
        step = int(data.get("step", m.group(2) if m.group(2).isdigit() else -1))
        if name not in latest or step >= latest[name][0]:
            latest[name] = (step, os.path.basename(path), data)
    return [{"name": n, "step": s, "file": f, "result": d} for n, (s, f, d) in sorted(latest.items())]


def _scalars(result: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in result.items():
        if k in SKIP_KEYS or k.startswith("identity_audit"):
            continue
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, (int, float)):
            out[prefix + k] = v
        elif isinstance(v, dict) and not prefix:
            out.update(_scalars(v, f"{k}/"))
    return out


def _audits(workdir: str, evals: list[dict]) -> list[tuple[str, dict]]:
    found = [(f"{e['file']}: {k}", v) for e in evals for k, v in e["result"].items() if k.startswith("identity_audit")]
    for name in ("test_report.json", "identity_audit.json"):
        data = _load(os.path.join(workdir, name)) or {}
        found += [(f"{name}: {k}", v) for k, v in data.items()
                  if k.startswith("identity_audit") and isinstance(v, dict)]
        if name == "identity_audit.json" and "chance" in data:
            found.append((name, data))
    return found


def protocol(config: ml_collections.ConfigDict) -> str | None:
    """The built dataset's protocol text (FerBuilder metadata), when its TFDS folder is reachable from here."""
    inp = config.get("input") or {}
    if not inp.get("data_dir") or not inp.get("dataset"):
        return None
    found = sorted(glob.glob(os.path.join(str(inp["data_dir"]), str(inp["dataset"]), "*", "*", "metadata.json")),
                   key=os.path.getmtime)
    return next((m["protocol"] for m in map(_load, reversed(found)) if m and m.get("protocol")), None)


def train_command(workdir: str) -> str | None:
    for name in ("command.txt", "train_command.txt"):
        path = os.path.join(workdir, name)
        if os.path.isfile(path):
            with open(path) as f:
                return f.read().strip()
    report = _load(os.path.join(os.path.dirname(os.path.abspath(workdir)), "report.json")) or {}
    return (report.get("train_commands") or {}).get(os.path.basename(os.path.abspath(workdir)))


def _fmt(v: float) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def model_card(workdir: str, config: ml_collections.ConfigDict, meta: dict[str, Any]) -> str:
    """``README.md`` of the bundle (markdown)."""
    inp = config.get("input") or {}
    evals = evaluations(workdir)
    lines = [f"# {meta['method']} — exported model ({meta['format']})", "",
             f"Exported by `fer-jax export --format {meta['format']}` from step {meta['step']} "
             f"({meta['checkpoint']} checkpoint) of `{meta['workdir']}`. Files: `{meta['model_file']}` (the model), "
             "`spec.json` (inputs, outputs, preprocessing), `config.json` (the run's full config), "
             "`load_example.py` (how to run it).", "",
             "## Data and protocol", "",
             f"- dataset: `{inp.get('dataset', '?')}`"
             + (f" (data_dir `{inp.get('data_dir')}`)" if inp.get("data_dir") else ""),
             f"- training split: `{inp.get('split_train', 'train')}`, "
             f"validation split: `{inp.get('split_val', 'val')}`"]
    if text := protocol(config):
        lines.append(f"- protocol: {text}")
    if config.get("fold") is not None:
        lines.append(f"- fold: {config.get('fold')}")
    names = meta["output"]["names"]
    lines += [f"- output: {meta['output']['kind']}"
              + (f" over {len(names)} names: {', '.join(names)}" if names else ""),
              f"- seed {config.get('seed')}, {config.get('total_steps')} steps configured", "",
              "## Inputs and preprocessing", "",
              f"Input group `{meta['input_group']}` (how a raw file becomes these arrays in fer-jax: "
              "`fer_jax/serving/prepare.py`); preprocessing: "
              + ", ".join(f"{k}={v}" for k, v in meta["preprocessing"].items()) + ".", "",
              "| input | shape | dtype |", "|---|---|---|"]
    lines += [f"| `{i['name']}` | {' × '.join(map(str, i['shape']))} | {i['dtype']} |" for i in meta["inputs"]]
    out_shape = " × ".join(map(str, meta["output"]["shape"]))
    lines += ["", f"Output: {out_shape} ({meta['output']['kind']}); `b` is any batch size.", "",
              "## Evaluation (from the workdir)", ""]
    if evals:
        lines += ["| evaluation | step | metric | value |", "|---|---|---|---|"]
        for e in evals:
            lines += [f"| {e['name']} (`{e['file']}`) | {e['step']} | {k} | {_fmt(v)} |"
                      for k, v in sorted(_scalars(e["result"]).items())]
    else:
        lines.append("No evaluation files (`eval_*.json`) in the workdir.")
    audits = _audits(workdir, evals)
    if audits:
        lines += ["", "## Identity audit", "",
                  "Held-out accuracy of probes reading the subject from the expression features (chance = the "
                  "most frequent identity's share; `fer_jax/evaluate/identity_audit.py`).", "",
                  "| source | identities | chance | linear | mlp |", "|---|---|---|---|---|"]
        lines += [f"| {src} | {a.get('n_identities', '?')} | {_fmt(a.get('chance', '?'))} | "
                  f"{_fmt(a.get('linear_acc', '?'))} | {_fmt(a.get('mlp_acc', '?'))} |" for src, a in audits]
    cmd = train_command(workdir)
    check = meta["check"]
    lines += ["", "## How it was trained", "",
              f"```\n{cmd}\n```" if cmd else
              "The training command was not recorded in the workdir; `config.json` is the run's full config "
              "(`fer-jax train --config=<a config file giving these values> --workdir=...`).", "",
              "## Export check", "",
              (f"On a random batch of {check['batch']} this file's model equals the in-framework predictor to "
               f"{check['max_abs_diff']:.2g} (max abs difference; tolerance {check['tolerance']}).")
              if "max_abs_diff" in check else f"Not checked: {check.get('skipped')}.", "",
              "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "."]
    return "\n".join(lines) + "\n"


_LOADER_HEAD = '''"""Run this bundle's model on its inputs ({needs}); no fer-jax needed.

    python load_example.py                          # random inputs of the spec's shapes, batch 2
    python load_example.py --inputs x.npz --out y.npy

``--inputs``: an .npz with one array per input of spec.json (batched); ``--out``: save the outputs.
Preparing real inputs from a video or image follows spec.json's ``input_group`` and ``preprocessing``.
"""

import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "spec.json")) as f:
    SPEC = json.load(f)
NAMES = [i["name"] for i in SPEC["inputs"]]
'''

_LOADER_MODEL = {
    "onnx": '''

def load():
    """``predict(**inputs) -> outputs [b, ...]`` with onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(os.path.join(HERE, "model.onnx"), providers=["CPUExecutionProvider"])
    return lambda **inputs: session.run(None, {i["name"]: np.asarray(inputs[i["name"]], i["dtype"])
                                               for i in SPEC["inputs"]})[0]
''',
    "stablehlo": '''

def load():
    """``predict(**inputs) -> outputs [b, ...]`` with ``jax.export.deserialize``."""
    from jax import export

    with open(os.path.join(HERE, "model.stablehlo"), "rb") as f:
        exported = export.deserialize(bytearray(f.read()))
    return lambda **inputs: np.asarray(exported.call(*(np.asarray(inputs[i["name"]], i["dtype"])
                                                       for i in SPEC["inputs"])))
''',
    "safetensors": '''

def load():
    """``predict(**inputs)``: the graph is the method's code, so this format needs fer-jax installed;
    without it the parameters are still plain arrays (``safetensors.numpy.load_file``)."""
    try:
        from fer_jax.serving.export_bundle import load_bundle
    except ImportError:
        from safetensors.numpy import load_file

        params = load_file(os.path.join(HERE, "params.safetensors"))
        print(f"fer-jax is not installed: {len(params)} parameter arrays, e.g.",
              {k: v.shape for k, v in list(params.items())[:3]})
        raise SystemExit(0)
    return load_bundle(HERE)
'''}

_LOADER_MAIN = '''

def example_inputs(batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return {i["name"]: rng.uniform(size=[batch, *i["shape"][1:]]).astype(i["dtype"]) for i in SPEC["inputs"]}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\\n\\n")[0])
    p.add_argument("--inputs", help=".npz with one batched array per input")
    p.add_argument("--out", help="save the outputs here (.npy)")
    args = p.parse_args()
    if args.inputs:
        with np.load(args.inputs) as z:
            inputs = {n: z[n] for n in NAMES}
    else:
        inputs = example_inputs()
    outputs = load()(**inputs)
    if args.out:
        np.save(args.out, outputs)
    names = SPEC["output"]["names"]
    for row in np.asarray(outputs, np.float64):
        if names and SPEC["output"]["kind"] == "probabilities":
            print(names[int(np.argmax(row))], dict(zip(names, np.round(row, 4).tolist())))
        else:
            print(dict(zip(names, np.round(row, 4).tolist())) if names else np.round(row, 4).tolist())
'''


def loader_example(fmt: str) -> str:
    needs = {"onnx": "numpy + onnxruntime", "stablehlo": "numpy + jax",
             "safetensors": "numpy + safetensors; running it needs fer-jax"}[fmt]
    head = _LOADER_HEAD.format(needs=needs)
    if fmt == "safetensors":
        head = head.replace("; no fer-jax needed", "")
    return head + _LOADER_MODEL[fmt] + _LOADER_MAIN
