"""Writes ``notebooks/quickstart.ipynb`` (outputs stripped): edit the cells here, then run this script.

    python notebooks/make_quickstart.py

The notebook is executed top to bottom by ``tests/notebooks/test_quickstart.py`` (CI), so what it shows
cannot drift from the code.
"""

import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    ("md", """# fer-jax quickstart: SynthFace → build → MI-FER → identity audit → predict → export

Runs top to bottom on a 2-core CPU in a few minutes (Colab's free CPU runtime included) at smoke size:
8 SynthFace identities, 32-px frames, 20 training steps. The numbers mean nothing at this size; the point
is every stage of the pipeline. `fer-jax demo` runs the same stages at full size (about 10 minutes)."""),
    ("md", """## Install
On Colab this installs fer-jax (with the `export` extra) from `FER_JAX_SOURCE`: a pip requirement such as
`git+https://github.com/<you>/fer-jax` or the path of a checkout. Where fer-jax is already importable (a local
checkout installed with `pip install -e ".[export]"`) it does nothing. Nothing else is downloaded at run time."""),
    ("code", """import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("fer_jax") is None:
    source = os.environ.get("FER_JAX_SOURCE") or next(
        (p for p in ("..", ".") if os.path.isfile(os.path.join(p, "setup.cfg"))), None)
    if source is None:
        raise RuntimeError("fer-jax is not installed: set FER_JAX_SOURCE to a git URL or a checkout's path")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"fer-jax[export] @ {source}"
                    if "://" in source else f"{os.path.abspath(source)}[export]"], check=True)
import fer_jax  # noqa: E402

print("fer-jax", fer_jax.__version__)"""),
    ("md", """## Settings
`WORK` holds everything (re-running a cell resumes: stages whose output exists are skipped). The sizes are
those of `fer-jax demo --quick`; `configs/mi_fer/demo.py:quick` is the training config."""),
    ("code", """import json
import logging
from pathlib import Path

import numpy as np
from IPython.display import Image, Markdown, display

from fer_jax import cli
from fer_jax.commands import demo

logging.getLogger("absl").setLevel(logging.ERROR)
WORK = Path(os.environ.get("QUICKSTART_DIR", "runs/quickstart")).resolve()
args = demo._parser().parse_args(["--quick", "--workdir", str(WORK), "--workers", "1"])
demo._quick(args)
demo._training_defaults(args)
report = {}
print({k: getattr(args, k) for k in ("identities", "frames", "size", "steps", "width", "mi_weight", "seed")})"""),
    ("md", """## 1. Data: SynthFace → identity encoder → compressed-domain TFDS build
Renders procedural face videos (MPEG-4 files with per-frame AU labels and identity-disjoint splits),
pre-trains the small Flax face-recognition encoder on SynthFace's separate identity pool, then extracts
every clip's I-frames, motion vectors and residuals and builds the TFDS dataset, with each I-frame's identity
embedding computed by that frozen encoder (the `synthface` builder; `fer-jax build` on the command line)."""),
    ("code", """tfds_dir, backbone = demo.prepare_data(args, WORK, report)
print(json.dumps(report["tfds"]["splits"]), "| identity backbone:", backbone)"""),
    ("md", """What the model sees: one clip extracted in memory (`fer-jax extract` writes the same to `.npz`). The
residual is what is left after motion compensation; MI-FER reads residuals only at inference."""),
    ("code", """import matplotlib.pyplot as plt

from data_pipelines.compressed import extract_file

clip_path = sorted((WORK / "synthface").rglob("*.mp4"))[0]
clip = extract_file(clip_path, size=args.size, gop=12)
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
panels = {"I-frame": clip.iframes[0],
          "|residual| (P5)": np.abs(clip.residuals[0, 5].astype(np.float32)).mean(-1),
          "|motion| (P5)": np.linalg.norm(clip.motion_vectors[0, 5].astype(np.float32), axis=-1)}
for ax, (title, image) in zip(axes, panels.items()):
    ax.imshow(image)
    ax.set_title(title)
    ax.axis("off")
plt.show()
print(clip_path.name, {k: getattr(clip, k).shape for k in ("iframes", "motion_vectors", "residuals")})"""),
    ("md", """## 2. Train MI-FER and its λ = 0 baseline, then evaluate on unseen identities
Both runs use `configs/mi_fer/demo.py:quick` (the baseline adds `baseline`: no mutual-information game). Each
is trained by the shared trainer, then evaluated on the test split with the identity audit (probes reading
the subject from the expression features). The equivalent shell command is printed for each run."""),
    ("code", """results = {}
for run_name, baseline in (("mi_fer", False), ("baseline", True)):
    results[run_name] = demo.train_and_evaluate(args, WORK, run_name, tfds_dir, backbone, baseline, report)
    print(report["train_commands"][run_name])
    r = results[run_name]
    print(f"  test WAR {r['war']:.3f} UAR {r['uar']:.3f}")"""),
    ("md", """## 3. Identity audit
Held-out accuracy of a linear and an MLP probe predicting the subject from each run's expression features;
the game should bring it towards chance (at this size the difference is noise)."""),
    ("code", """from fer_jax.evaluate import plots

audits = {demo.RUNS[name]: res["identity_audit"] for name, res in results.items()}
display(Image(plots.audit_png(audits, str(WORK / "audit.png"))))"""),
    ("md", """## 4. Predict a clip
Residual-only inference on an encoded video file: the clip's probabilities and a per-GOP timeline."""),
    ("code", """test_clip = str(clip_path)
assert cli.main(["predict", test_clip, "--workdir", str(WORK / "mi_fer"), "--out", str(WORK / "pred.json")]) in (0, 1)
record = json.loads((WORK / "pred.json").read_text())["predictions"][0]
probs = {k: round(v, 3) for k, v in record.get("probabilities", {}).items()}
print(record["status"], record.get("prediction"), probs)"""),
    ("md", """## 5. Export for a collaborator
An ONNX bundle: `model.onnx`, `spec.json` (inputs, preprocessing, class names), `config.json`, a model card
(`README.md`: data, protocol, evaluation numbers, identity audit, the training command) and
`load_example.py`, which needs only numpy and onnxruntime. `--format stablehlo` (jax only) and
`--format safetensors` (plain parameters) work the same way; see docs/export.md."""),
    ("code", """import shutil

bundle = WORK / "bundle_onnx"
shutil.rmtree(bundle, ignore_errors=True)  # an export never overwrites
assert cli.main(["export", "--workdir", str(WORK / "mi_fer"), "--format", "onnx", "--out", str(bundle)]) == 0
print(sorted(os.listdir(bundle)))
done = subprocess.run([sys.executable, "load_example.py"], cwd=bundle, capture_output=True, text=True, check=True)
print(done.stdout)
display(Markdown((bundle / "README.md").read_text()))"""),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS])
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}, "colab": {"provenance": []}}
    return nb


if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quickstart.ipynb")
    nbformat.write(build(), path)
    print("wrote", path)
