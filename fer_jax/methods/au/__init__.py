"""Semi-supervised AU intensity: contrastive pre-training on unlabeled video (``au_contrastive``), then a
per-frame regressor trained from a seeded random fraction of labelled frames (``au_intensity``)."""
