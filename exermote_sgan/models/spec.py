"""The networks' shape as plain data, importable without Keras.

:mod:`~exermote_sgan.models.networks` builds its networks from these names, and the training
settings (:mod:`~exermote_sgan.training.config`) check a config against them without loading
TensorFlow: one statement of the trunks and of the layer names weights move by.
"""

from __future__ import annotations


#: the classifying trunks: two LSTMs (the original), or the mean and maximum over time
TRUNKS = ("lstm", "pool")
#: the trunk layers shared by name between discriminator, baseline and inference classifier
TRUNK_LAYERS = ("conv1", "conv2", "lstm1", "lstm2", "dropout")
#: the same for the ``pool`` trunk (its pooling layers have no weights)
POOL_TRUNK_LAYERS = ("conv1", "conv2", "dropout")
