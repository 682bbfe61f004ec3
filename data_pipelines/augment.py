"""Training augmentation applied identically to every stream and every time step of an example.

One random draw per example (stateless, keyed by (seed, epoch, example position), so a resumed run
repeats it): a horizontal flip and a translation by a multiple of 4 px. The translation is a
multiple of the motion-vector cell (4 px) so the MV grid moves by whole cells with the pixels. A
flip mirrors every image-like tensor and negates the x component of the motion vectors (content
moving right moves left in the mirror). Translated-in borders are zero for residuals and MVs (no
change, no motion) and edge-replicated for decoded frames. The decoded ``frames`` group gets the same
draw for all its T frames: without it a clip model sees each training clip's exact pixels every epoch
and can fit clips by their background (STT README, SynthFace-wild).
"""

from __future__ import annotations

from data_pipelines.tf_compat import import_tf

tf = import_tf()

IMAGE_KEYS = ("iframe", "apex_frame", "image", "frames")  # decoded pixels: [.., S, S, 3] (frames: [T, S, S, 3])
ZERO_PAD_KEYS = ("residuals",)


def _shift(x, dy, dx, pad_mode: str):
    """Translate the two spatial axes (-3, -2) by (dy, dx) cells, keeping the size."""
    h, w = tf.shape(x)[-3], tf.shape(x)[-2]
    m = tf.maximum(tf.abs(dy), tf.abs(dx))
    rank = len(x.shape)
    pads = [[0, 0]] * (rank - 3) + [[m, m], [m, m], [0, 0]]
    padded = tf.pad(x, pads, mode=pad_mode)
    begin = [0] * (rank - 3) + [m - dy, m - dx, 0]
    size = [-1] * (rank - 3) + [h, w, -1]
    return tf.slice(padded, begin, size)


def augment(batch: dict, seed, max_shift_cells: int = 2) -> dict:
    """Flip + translate every stream of one example consistently; ``seed`` is a [2] int tensor."""
    u = tf.random.stateless_uniform([3], seed=seed)
    flip = u[0] < 0.5
    span = 2 * max_shift_cells + 1
    dy = tf.cast(tf.floor(u[1] * span), tf.int32) - max_shift_cells  # in MV cells (4 px)
    dx = tf.cast(tf.floor(u[2] * span), tf.int32) - max_shift_cells
    out = dict(batch)
    for key in (*IMAGE_KEYS, *ZERO_PAD_KEYS):
        if key in out:
            x = out[key]
            x = tf.cond(flip, lambda x=x: tf.reverse(x, [-2]), lambda x=x: x)
            mode = "CONSTANT" if key in ZERO_PAD_KEYS else "SYMMETRIC"
            out[key] = _shift(x, 4 * dy, 4 * dx, mode)
    if "motion_vectors" in out:
        mv = out["motion_vectors"]
        mv = tf.cond(flip, lambda: tf.reverse(mv, [-2]) * tf.constant([-1.0, 1.0], mv.dtype), lambda: mv)
        out["motion_vectors"] = _shift(mv, dy, dx, "CONSTANT")
    return out
