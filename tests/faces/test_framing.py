"""``SYNTHFACE_FRAMING``, measured again: how a SynthFace frame frames the face the detector reports.

16 identities, one lab clip each (frame 4 of 8, 224 px), MTCNN's dlib-sized box on each face
it finds: the frame's side over the box side, and the frame centre's offset from the box centre in box
sides. The constants in ``data_pipelines/faces/crop.py`` are the medians of this measurement.
"""

import numpy as np
import pytest

from data_pipelines.faces import SYNTHFACE_FRAMING, FaceSettings
from data_pipelines.synthface.clip import render_clip

pytestmark = pytest.mark.slow
SIZE = 224


def test_synthface_framing_is_what_the_renderer_draws():
    det = FaceSettings(detector="mtcnn").make_detector()
    rows = {"lab": []}  # wild builds are face crops: served with the builder's margin
    for i in range(16):
        for regime in rows:
            frames, _ = render_clip(i, i % 7, regime, n_frames=8, size=SIZE, seed=i)
            found = det(frames[4])
            if found:
                d = max(found, key=lambda d: d.side)
                rows[regime].append((SIZE / d.side, (SIZE / 2 - d.centre[1]) / d.side))
    for regime, (margin, shift) in SYNTHFACE_FRAMING.items():
        r = np.array(rows[regime])
        print(regime, len(r), np.median(r, 0))
        assert len(r) >= 8  # MTCNN finds 13 of 16 lab faces
        assert np.median(r[:, 0]) == pytest.approx(margin, abs=0.03)
        assert np.median(r[:, 1]) == pytest.approx(shift, abs=0.02)
