"""The experiment ``fer-jax demo`` trains: MI-FER and its λ = 0 baseline on the demo's SynthFace.

``fer-jax demo`` renders the data, pre-trains the identity encoder, builds the TFDS set, then trains
from this file; once those exist, the same runs launch by hand (the demo's workdir is ``runs/demo``)::

    fer-jax train --workdir=runs/demo/mi_fer \\
      --config=configs/mi_fer/demo.py:data_dir=runs/demo/tfds,backbone=flax:runs/demo/identity_encoder
    fer-jax train --workdir=runs/demo/baseline \\
      --config=configs/mi_fer/demo.py:baseline,data_dir=runs/demo/tfds,backbone=flax:runs/demo/identity_encoder

Variants: ``baseline`` (λ = 0), ``quick`` (the smoke size of ``fer-jax demo --quick``), and
``seed=``, ``steps=``, ``width=``, ``size=``, ``mi_weight=`` (the demo's flags of the same names), and
``apex=false`` (the apex-frame constraint off: its ablation, ``benchmarks/mi_fer/bench_seeds.py --no-apex``).
Starts from ``synthface.py:tiny``.
"""

from configs.common import parse_arg
from configs.mi_fer import synthface

# Training size of the full demo and of ``--quick`` (steps, encoder width, frame size in px).
FULL = dict(steps=2_000, width=16, size=48)
QUICK = dict(steps=20, width=8, size=32)

# The demo's data (``fer-jax demo``'s render flags take these defaults). One GOP per clip: a 12-frame
# lab onset (neutral -> apex) is one MPEG-4 GOP of 12, so the I-frame is the neutral face and every
# accumulated residual is the expression's change so far (+ the head sway). With 32-frame clips (3 GOPs)
# each GOP's residuals held only the change since *its* I-frame: frames early in a GOP or after the
# apex (the whole third GOP) carried no expression, and the TSN draw fed them to the encoder in most
# training examples, which is why it underfitted (fer_jax/methods/mi_fer/README.md, "Why the encoder
# underfitted").
DATA = dict(frames=12, head_motion=0.5)


def get_config(arg=None):
    arg = parse_arg(arg, baseline=False, quick=False, seed=0, steps=(None, int), width=(None, int),
                           size=(None, int), mi_weight=0.2, apex=True, data_dir="runs/demo/tfds",
                           backbone="flax:runs/demo/identity_encoder")
    dims = QUICK if arg.quick else FULL
    steps = dims["steps"] if arg.steps is None else arg.steps

    c = synthface.get_config("tiny")
    c.seed = arg.seed
    c.total_steps = steps
    c.eval_every = max(steps // 3, 1)
    c.ckpt_every = max(steps // 3, 1)
    c.log_every = max(steps // 60, 1)
    c.model.width = dims["width"] if arg.width is None else arg.width

    # λ is 0 for the first 15% of the steps, then ramps up over the next 30%: the encoder learns
    # expression first and the game strips identity from features that exist (measured: λ = 0.1 from
    # step 50 cost 2.1 points of WAR, from step 300 +0.6; fer_jax/methods/mi_fer/README.md).
    c.mi.weight = 0.0 if arg.baseline else arg.mi_weight
    c.apex.enabled = arg.apex  # the apex-frame constraint (SynthFace's lab regime annotates the apex)
    c.mi.start_step = steps * 3 // 20
    c.mi.warmup_steps = steps * 3 // 10

    c.input.dataset = "synthface"
    c.input.data_dir = arg.data_dir
    c.input.identity_backbone = arg.backbone  # the demo's Flax identity encoder (128-D)
    c.input.size = dims["size"] if arg.size is None else arg.size
    c.input.split_val = "val"
    # No flip/shift augmentation: lab faces are aligned, and a shift of up to 2 motion-vector cells is
    # ±8 px at 48 px (17% of the face): with it the encoder could not fit even the informative frames
    # (README.md, "Why the encoder underfitted").
    c.input.augment = False
    return c
