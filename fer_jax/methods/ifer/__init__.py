"""IFER: facial inversion (ASIT encoder against a frozen StyleGAN2) for expression recognition."""
