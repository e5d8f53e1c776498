"""Networks: the SGAN discriminator and generator, and the supervised baseline."""

from .networks import (
    TRUNK_LAYERS, build_baseline, build_discriminator, build_generator,
    classifier_from_discriminator)

__all__ = ["TRUNK_LAYERS", "build_baseline", "build_discriminator", "build_generator",
           "classifier_from_discriminator"]
