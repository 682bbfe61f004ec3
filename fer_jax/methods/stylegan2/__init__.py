"""StyleGAN2 as a trainer method: train the decoder IFER inverts into on your own faces."""
