"""MI-FER configs, one file per dataset: ``--config=configs/mi_fer/<dataset>.py[:variant]``."""
