"""Networks: the SGAN discriminator and generator, and the supervised baseline."""

from .._quiet import install as _install_quiet

_install_quiet()  # filters TensorFlow's and coremltools' known noise from their first import

from .networks import (  # noqa: E402
    TRUNK_LAYERS, build_baseline, build_discriminator, build_generator,
    classifier_from_discriminator)

__all__ = ["TRUNK_LAYERS", "build_baseline", "build_discriminator", "build_generator",
           "classifier_from_discriminator"]
