"""``NAME.tflite`` for Android: the same raw-input classifier, checked with the TFLite interpreter.

The LSTMs are unrolled into matmuls and activations so the file needs only TFLite's builtin
ops (no Flex delegate).  Input float32 ``(1, T, F)`` in RAW sensor units, named like the
Core ML input (``accelerations`` for Core Motion features, else ``sensorWindow``, see
:mod:`exermote_sgan.export.naming`), output ``scores`` ``(1, K)`` in the run's class order,
both named in the ``serving_default`` signature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_output


SIGNATURE = "serving_default"
SCORES_NAME = "scores"


def build_tflite(weights, scaler, *, input_name: str = "accelerations") -> bytes:
    """The serialised TFLite flatbuffer (float32 weights and compute)."""
    import tensorflow as tf

    from .tf_graph import inference_function

    function = inference_function(weights, scaler, batch_size=1, lstm="unrolled",
                                  input_name=input_name)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], tf.Module())
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def stage_tflite(flatbuffer: bytes, path) -> Path:
    """Write the flatbuffer to ``path`` as it is (callers stage it with ``atomic_output``)."""
    Path(path).write_bytes(flatbuffer)
    return Path(path)


def save_tflite(flatbuffer: bytes, destination) -> Path:
    """Write the flatbuffer to ``destination`` atomically."""
    with atomic_output(destination) as tmp:
        stage_tflite(flatbuffer, tmp)
    return Path(destination)


def tflite_scores(model_path, raw_windows: np.ndarray) -> np.ndarray:
    """Run the saved ``.tflite`` on RAW windows one at a time with ``tf.lite.Interpreter``.

    Calls it through its ``serving_default`` signature by the names an app uses.
    """
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():  # its deprecation notice in favour of ai_edge_litert
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_path=str(model_path))
    runner = interpreter.get_signature_runner(SIGNATURE)
    (input_name,) = runner.get_input_details()
    scores = [runner(**{input_name: window[None]})[SCORES_NAME][0]
              for window in np.asarray(raw_windows, np.float32)]
    return np.asarray(scores, np.float64)
