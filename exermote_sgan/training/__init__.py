"""Training: the semi-supervised GAN, the supervised baseline, evaluation and comparison."""

from .._quiet import install as _install_quiet

_install_quiet()  # filters TensorFlow's and coremltools' known noise from their first import
