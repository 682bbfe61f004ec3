"""STT on SynthFace's ``wild`` regime (DFEW-like pose, light, occlusion, clutter, noise; identity-disjoint
train/val/test, so test faces are unseen identities). The README's comparison runs use ``:tiny`` at 48 px
(``--config.input.size=48``) through ``benchmarks/stt/bench_wild.py``.

Data (what the README's latest runs used: 400 identities, one clip per expression, 280 train identities)::

    fer-jax synthface --out SRC --identities 400 --clips-per-identity 1 --regime wild --frames 24 --size 96 \
        --pool-identities 0
    fer-jax build synthface --data-dir D --source-dir SRC --identities 400 --clips-per-identity 1 \
        --frames 24 --regime wild --size 48 --store-frames      # decoded frames (RGB STT, baseline)
    # the _frames build holds the compressed groups too: compressed-token runs read the same D

``data_dir=D`` points the config at it (D must hold one synthface build of that size, else set
``input.builder_config``). Evaluation: ``val`` during training, ``test`` once, at the last step.
"""

from configs.stt import common
from data_pipelines.synthface.facs import EXPRESSIONS


def get_config(arg=None):
    c = common.finish(common.base_config("synthface", EXPRESSIONS, train_clips=1470), common.get(arg))
    both = ("classification", "embedding")  # the baseline reports its pooled features' ratio too
    c.evals = dict(val=dict(split="val", evaluators=both),
                   test=dict(split="test", evaluators=both, every=c.total_steps))  # test: at the end only
    return c
