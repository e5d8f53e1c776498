"""Export of a trained classifier to Core ML (and TFLite), verified numerically.

:func:`export_run` is the entry point; the modules below it are usable on their own:
``weights`` (the classifier as NumPy arrays), ``tf_graph`` (its inference graph as a
``tf.function``), ``coreml_package`` (the ML Program), ``app_model`` (the Exermote app's
neural network), ``tflite``, ``mil_evaluator`` / ``nn_evaluator`` (NumPy evaluation of the
saved files) and ``verify`` (the comparison with Keras).
"""

