"""StyleGAN2 configs: ``--config=configs/stylegan2/synthface.py[:variant]``."""
