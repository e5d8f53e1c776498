"""Streaming recognition of exercises and repetition counting."""

