"""Networks: the SGAN discriminator and generator, and the supervised baseline.

Importing this package is cheap: Keras is loaded when a network is first built (the names
below come from :mod:`.networks` on first use), so :mod:`.spec` serves the Keras-free
training settings.
"""

from __future__ import annotations

import importlib

# public name -> module that defines it (imported on first use)
_PUBLIC = {
    "TRUNK_LAYERS": ".spec",
    "TRUNKS": ".spec",
    "build_baseline": ".networks",
    "build_discriminator": ".networks",
    "build_generator": ".networks",
    "classifier_from_discriminator": ".networks",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
