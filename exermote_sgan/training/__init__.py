"""Training: the semi-supervised GAN, the supervised baseline, evaluation and comparison."""
