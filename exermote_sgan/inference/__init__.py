"""Streaming recognition of exercises and repetition counting."""

from .counting import AppRuleCounter, HysteresisCounter, count_repetitions
from .streaming import StreamingRecognizer, recognize_recording

__all__ = ["AppRuleCounter", "HysteresisCounter", "StreamingRecognizer", "count_repetitions",
           "recognize_recording"]
