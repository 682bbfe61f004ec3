"""A SynthFace face encoder for STT's ``face=`` start, on identities no SynthFace-wild split holds.

ArcFace on reserved pool identities, as ``fer-jax demo``'s stage 2 makes it (60 identities x 8 stills, 48 px,
300 steps), but the pool is numbered after ``--after`` identities: SynthFace draws identity i the same way in
every set of one seed, so a demo workdir's encoder (pool 80..139) has seen identities of a 400-identity wild
set; this one (pool 400..459 by default) has not.

    python benchmarks/stt/face_encoder.py --out ENC_ROOT --after 400    # -> ENC_ROOT/identity_encoder
"""

from __future__ import annotations

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from data_pipelines.synthface import generate
    from fer_jax.identity.pretrain import pretrain_identity_encoder

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--after", type=int, default=400, help="the wild set's identity count: the pool starts there")
    p.add_argument("--pool", type=int, default=60)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0, help="SynthFace's seed (the wild set's)")
    a = p.parse_args(argv)
    synth = os.path.join(a.out, "synth")
    # the clips of identities 0..after-1 are rendered too (generate numbers the pool after them): short lab clips
    generate(synth, identities=a.after, clips_per_identity=1, regime="lab", frames=12, size=48, seed=a.seed,
             pool_identities=a.pool, pool_images=8, workers=2, progress=False)
    pool = np.load(os.path.join(synth, "identity_pool.npz"))
    metrics = pretrain_identity_encoder(pool["images"], pool["identity"], os.path.join(a.out, "identity_encoder"),
                                        steps=a.steps, seed=a.seed)
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
