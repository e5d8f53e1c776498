"""The networks' shape as plain data, importable without Keras.

:mod:`~exermote_sgan.models.networks` builds its networks from these names, and the training
settings (:mod:`~exermote_sgan.training.config`) check a config against them without loading
TensorFlow: one statement of the trunks and of the layer names weights move by.
"""

from __future__ import annotations


#: the classifying trunks: two LSTMs (the original), the mean and maximum over time, or that
#: pooling of two convolution branches side by side (``kernel_size`` and a short kernel)
TRUNKS = ("lstm", "pool", "multiscale")
#: the trunk layers shared by name between discriminator, baseline and inference classifier
TRUNK_LAYERS = ("conv1", "conv2", "lstm1", "lstm2", "dropout")
#: the same for the ``pool`` trunk (its pooling layers have no weights)
POOL_TRUNK_LAYERS = ("conv1", "conv2", "dropout")
#: the same for the ``multiscale`` trunk: ``conv1``/``conv2`` (width ``kernel_size``) and the
#: short branch ``conv1_short``/``conv2_short`` (width :data:`MULTISCALE_SHORT_KERNEL`)
MULTISCALE_TRUNK_LAYERS = ("conv1", "conv2", "conv1_short", "conv2_short", "dropout")
#: the width of the ``multiscale`` trunk's short branch, beside ``kernel_size``'s
MULTISCALE_SHORT_KERNEL = 3
