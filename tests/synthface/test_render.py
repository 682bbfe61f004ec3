"""Renderer: determinism, per-AU pixel regions, distinct AU deformations, request validation."""

import numpy as np
import pytest

from data_pipelines.synthface import AU_REGIONS, AUS, EXPRESSIONS, SynthFaceError, render_clip
from data_pipelines.synthface.canvas import pixel_centres
from data_pipelines.synthface.facs import AU_INDEX
from data_pipelines.synthface.identity import make_identity, neutral_identity
from data_pipelines.synthface.render import render_frames
from data_pipelines.synthface.scene import lab_scene

SIZE = 64


def _single_au(idt, unit, intensity=5.0):
    """Frame 0: the person's neutral face; frame 1: the same face with one AU at ``intensity``."""
    au = np.zeros((2, len(AUS)), np.float32)
    au[1, AU_INDEX[unit]] = intensity
    scene = lab_scene(2, np.random.default_rng(0), jitter=False)
    return render_frames(idt, au, scene, SIZE)


def _diff_mask(frames):
    return np.abs(frames[1].astype(np.int16) - frames[0]).max(-1) > 2


def _pixel_coords():
    lin = pixel_centres(SIZE)
    return np.meshgrid(lin, lin)  # X (columns), Y (rows) in face units for a centred frontal face


def test_same_seed_same_pixels_other_seed_other_pixels():
    a, la = render_clip(3, "happiness", "wild", n_frames=6, size=48, seed=11)
    b, lb = render_clip(3, "happiness", "wild", n_frames=6, size=48, seed=11)
    c, _ = render_clip(3, "happiness", "wild", n_frames=6, size=48, seed=12)
    assert a.dtype == np.uint8 and a.shape == (6, 48, 48, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la["au_intensity"], lb["au_intensity"])
    assert la["apex_index"] == lb["apex_index"]
    assert np.abs(a.astype(int) - c).mean() > 1.0


@pytest.mark.parametrize("unit", AUS)
def test_each_au_moves_its_region_and_nothing_else(unit):
    X, Y = _pixel_coords()
    x0, x1, y0, y1 = AU_REGIONS[unit]
    inside = (X >= x0) & (X <= x1) & (Y >= y0) & (Y <= y1)
    for index in range(6):  # several face geometries, with and without resting-face offsets
        for idt in (neutral_identity(index), make_identity(index)):
            mask = _diff_mask(_single_au(idt, unit))
            assert mask.sum() >= 6, f"AU{unit} barely visible for identity {index}"
            outside = mask & ~inside
            assert not outside.any(), f"AU{unit} changed {outside.sum()} pixels outside its region"


def test_au_deformations_are_distinct_and_point_the_right_way():
    idt = neutral_identity(2)
    diffs = {u: (lambda f: f[1].astype(np.float32) - f[0])(_single_au(idt, u)) for u in AUS}
    flat = np.stack([diffs[u].ravel() for u in AUS])
    corr = np.corrcoef(flat)
    np.fill_diagonal(corr, 0)
    assert corr.max() < 0.95, "two AUs produce (almost) the same image change"
    X, Y = _pixel_coords()
    masks = {u: np.abs(d).max(-1) > 2 for u, d in diffs.items()}
    # AU1 raises the inner brow, AU2 the outer: AU2's change sits further from the midline.
    assert np.abs(X[masks[2]]).mean() > np.abs(X[masks[1]]).mean() + 0.05
    # Brow raise changes pixels above where brow lowering does.
    assert Y[masks[1]].mean() < Y[masks[4]].mean()
    # Lip-corner pull vs depress: the darker lips/fold move up vs down at the mouth corners.
    corner = np.abs(X) > idt.mouth_w * 0.6
    def dark_y(unit):  # mean y of pixels that got darker near the corners
        darker = (diffs[unit].mean(-1) < -8) & corner
        return Y[darker].mean()
    assert dark_y(12) < idt.mouth_y < dark_y(15)
    # Jaw drop opens the mouth more than lips part alone.
    assert masks[26].sum() > masks[25].sum()


def test_resting_face_changes_the_neutral_face_and_expressiveness_scales_expression():
    # Identity/expression confound: a resting frown is visible in the neutral face itself ...
    ids = [make_identity(i) for i in range(40)]
    with_frown = next(i for i in ids if i.resting_au[AU_INDEX[4]] > 1.0)
    rest = render_frames(with_frown, np.zeros((1, 12), np.float32), lab_scene(1, np.random.default_rng(0),
                                                                             jitter=False), SIZE)
    plain = render_frames(neutral_identity(with_frown.index), np.zeros((1, 12), np.float32),
                          lab_scene(1, np.random.default_rng(0), jitter=False), SIZE)
    assert (np.abs(rest.astype(int) - plain).max(-1) > 2).sum() > 10
    # ... and expressive people move more: apex intensity tracks expressiveness across identities.
    strength, expressiveness = [], []
    for idt in ids:
        _, labels = render_clip(idt, "surprise", "lab", n_frames=4, size=32, seed=1)
        strength.append(labels["au_intensity"].max(0).sum())
        expressiveness.append(idt.expressiveness)
    assert np.corrcoef(strength, expressiveness)[0, 1] > 0.6


@pytest.mark.parametrize("kwargs, words", [
    (dict(regime="indoor"), "regime"),
    (dict(size=33), "size"),
    (dict(size=16), "size"),
    (dict(n_frames=1), "n_frames"),
    (dict(expression="contempt"), "expression"),
    (dict(expression=7), "expression"),
])
def test_bad_requests_raise_a_clear_error(kwargs, words):
    args = dict(identity=0, expression="anger", regime="lab", n_frames=4, size=32, seed=0)
    args.update(kwargs)
    with pytest.raises(SynthFaceError, match=words):
        render_clip(**args)


def test_expression_names_and_ids_agree():
    for i, name in enumerate(EXPRESSIONS):
        _, by_name = render_clip(1, name, "lab", n_frames=3, size=32, seed=2)
        _, by_id = render_clip(1, i, "lab", n_frames=3, size=32, seed=2)
        assert by_name["expression"] == by_id["expression"] == i
        np.testing.assert_array_equal(by_name["au_intensity"], by_id["au_intensity"])


def test_lab_is_still_and_wild_moves_even_without_expression():
    lab, _ = render_clip(4, "neutral", "lab", n_frames=8, size=48, seed=0)
    assert all(np.array_equal(lab[0], f) for f in lab[1:])  # frontal, steady: only AUs move pixels
    motion = []
    for seed in range(8):
        wild, _ = render_clip(4, "neutral", "wild", n_frames=8, size=48, seed=seed)
        motion.append(np.abs(wild[-1].astype(int) - wild[0]).mean())
        # camera noise: neighbouring pixels of the flat-ish background are not all equal
        assert np.abs(np.diff(wild[0, :4, :4].astype(int), axis=1)).max() > 0
    assert min(motion) > 2.0  # pose, light and noise change every wild clip


def test_lab_head_motion_moves_the_outline_not_the_expression():
    """--head-motion sways the head (face outline, hair move) and leaves labels and the fixed default alone."""
    still, labels = render_clip(4, "neutral", "lab", n_frames=16, size=48, seed=3)
    swaying, sway_labels = render_clip(4, "neutral", "lab", n_frames=16, size=48, seed=3, head_motion=1.0)
    np.testing.assert_array_equal(labels["au_intensity"], sway_labels["au_intensity"])
    assert all(np.array_equal(still[0], f) for f in still[1:])
    change = np.abs(swaying.astype(int) - swaying[:1]).max(-1)  # [T, S, S]
    assert change.max() > 20  # edges move by a visible fraction of a pixel
    moved = change.max(0) > 10
    assert moved[:, :8].any() or moved[:, -8:].any() or moved[:8].any()  # hair/outline, beyond the AU boxes
    bigger, _ = render_clip(4, "neutral", "lab", n_frames=16, size=48, seed=3, head_motion=3.0)
    assert np.abs(bigger.astype(int) - bigger[:1]).mean() > np.abs(swaying.astype(int) - swaying[:1]).mean()
    with pytest.raises(SynthFaceError, match="head_motion"):
        render_clip(4, "neutral", "lab", n_frames=4, size=48, seed=3, head_motion=-1.0)


def test_pool_stills_vary_pose_expression_and_light():
    from data_pipelines.synthface import render_face_image

    stills = np.stack([render_face_image(9, size=48, seed=k) for k in range(4)]).astype(int)
    assert stills.shape == (4, 48, 48, 3)
    diffs = [np.abs(stills[i] - stills[j]).mean() for i in range(4) for j in range(i + 1, 4)]
    assert min(diffs) > 3.0
    np.testing.assert_array_equal(render_face_image(9, size=48, seed=2), stills[2])


def test_wild_scenes_occlude_some_clips_and_the_occluder_is_drawn():
    from data_pipelines.synthface.scene import wild_scene

    scenes = [wild_scene(4, np.random.default_rng(s)) for s in range(60)]
    with_occluder = [s for s in scenes if s.occluder is not None]
    assert 8 <= len(with_occluder) <= 35  # about 35%
    scene = with_occluder[0]
    idt = make_identity(0)
    au = np.zeros((4, len(AUS)), np.float32)
    shown = render_frames(idt, au, scene, 48)
    from dataclasses import replace

    hidden = render_frames(idt, au, replace(scene, occluder=None), 48)
    assert (np.abs(shown.astype(int) - hidden).max(-1) > 10).mean() > 0.02
