"""STT on SynthFace's ``wild`` regime (DFEW-like pose, light, occlusion, clutter, noise; identity-disjoint
train/val/test, so test faces are unseen identities). The README's comparison runs use ``:tiny``.

Data (what the README's runs used)::

    fer-jax synthface --out SRC --identities 50 --clips-per-identity 2 --regime wild --frames 24 --size 64
    fer-jax build synthface --data-dir D --source-dir SRC --identities 50 --clips-per-identity 2 \
        --frames 24 --regime wild --size 32 --store-frames

``data_dir=D`` points the config at it (D must hold one synthface build of that size, else set
``input.builder_config``). Evaluation: ``val`` during training, ``test`` with ``fer-jax evaluate``.
"""

from configs.stt import common
from data_pipelines.synthface.facs import EXPRESSIONS


def get_config(arg=None):
    c = common.finish(common.base_config("synthface", EXPRESSIONS, train_clips=490), common.get(arg))
    both = ("classification", "embedding")  # the baseline reports its pooled features' ratio too
    c.evals = dict(val=dict(split="val", evaluators=both),
                   test=dict(split="test", evaluators=both, every=c.total_steps))  # test: at the end only
    return c
