"""Streaming recognition of exercises and repetition counting."""

from .._quiet import install as _install_quiet

_install_quiet()  # filters TensorFlow's and coremltools' known noise from their first import

from .counting import AppRuleCounter, HysteresisCounter, count_repetitions  # noqa: E402
from .streaming import StreamingRecognizer, recognize_recording  # noqa: E402

__all__ = ["AppRuleCounter", "HysteresisCounter", "StreamingRecognizer", "count_repetitions",
           "recognize_recording"]
