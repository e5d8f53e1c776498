"""The trainer: the semi-supervised GAN and the supervised baseline, their losses, datasets and
augmentation, the training recipe (``train``), evaluation, progress, backups and resume."""
