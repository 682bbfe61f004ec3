"""The decoded-image baseline: per-frame ResNet on RGB frames, temporal average, linear head."""
