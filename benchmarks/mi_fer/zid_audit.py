"""The identity audit on the identity network's own embedding (z_id of each test clip's I-frame): the
ceiling of what MI-FER's critic can be asked to remove (MI-FER README, sparse coverage).

    python benchmarks/mi_fer/zid_audit.py DEMO_WORKDIR/tfds/synthface/<config>/1.1.0 [--split test]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("builder_dir", help="a built SynthFace TFDS directory (the demo's)")
    p.add_argument("--split", default="test")
    p.add_argument("--repeats", type=int, default=10)
    a = p.parse_args(argv)

    from data_pipelines.tf_compat import import_tfds
    from fer_jax.evaluate.identity_audit import audit

    tfds = import_tfds()
    ds = tfds.as_numpy(tfds.builder_from_directory(a.builder_dir).as_dataset(split=a.split))
    z, subject = zip(*((ex["identity_embedding"], ex["subject"]) for ex in ds))
    identity = np.unique(np.asarray(subject), return_inverse=True)[1]
    r = audit(np.stack(z).astype(np.float32), identity, seed=0, repeats=a.repeats)
    print(json.dumps({"clips": len(z), "identities": int(identity.max() + 1),
                      **{k: round(float(r[k]), 4) for k in ("linear_acc", "mlp_acc", "chance")}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
