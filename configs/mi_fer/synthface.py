"""MI-FER on SynthFace (procedural face videos with known identities; the end-to-end demo).

``synthface.py`` full size, ``synthface.py:tiny`` for tests/demo, ``:random`` to run without data.
SynthFace's lab regime annotates the apex frame, so the apex constraint is on here.
"""

from configs.common import parse_arg
from configs.mi_fer import common
from data_pipelines.synthface.facs import EXPRESSIONS  # TF- and PyAV-free: the label ids' one home


def get_config(arg=None):
    args = parse_arg(arg)
    c = common.base_config("synthface", EXPRESSIONS)
    c.apex.enabled = True
    c.total_steps = 5_000
    c.eval_every = 500
    c.ckpt_every = 500
    return common.finish(c, args)
