"""An ensemble classifier: the mean of several baseline-architecture classifiers' probabilities.

Networks trained with different seeds err on different windows of a new person; the mean of
their class probabilities errs less often (on the smartwatch recordings the mean of three
seeds was about 1.4 points more accurate across people than one, see examples/watch).  The
ensemble is one Keras model on one input, so every later command (evaluate, export, predict)
takes it as it takes a single classifier: its layers are the input, one nested model per
member (``member0``, ``member1``, ...) and ``scores``, the average.

Members may have been trained with different input scalers; :func:`fold_input_scaling` moves
the difference into a member's first convolution, exactly, so that all members read the
ensemble's one scaled input.
"""

from __future__ import annotations

import numpy as np


def build_ensemble(members, *, name: str = "classifier"):
    """One model whose ``scores`` are the mean of ``members``' probabilities (same shapes)."""
    import keras

    members = list(members)
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    shapes = {(tuple(m.input_shape), tuple(m.output_shape)) for m in members}
    if len(shapes) != 1:
        raise ValueError(f"the members map different shapes: {sorted(shapes)}")
    _, timesteps, features = members[0].input_shape
    inputs = keras.Input((timesteps, features), name="windows")
    outputs = []
    for i, member in enumerate(members):
        copy = keras.models.clone_model(member)
        copy.set_weights(member.get_weights())
        copy.name = f"member{i}"
        outputs.append(copy(inputs))
    scores = keras.layers.Average(name="scores")(outputs)
    return keras.Model(inputs, scores, name=name)


def ensemble_members(model) -> list | None:
    """The member classifiers of an ensemble built by :func:`build_ensemble`, or None."""
    kinds = [type(layer).__name__ for layer in model.layers]
    if not kinds or kinds[-1] != "Average":
        return None
    members = list(model.layers[1:-1])
    if len(members) < 2 or not all(hasattr(m, "layers") for m in members):
        return None
    return members


def fold_input_scaling(member, ratio, shift):
    """A copy of ``member`` that reads ``x`` where it used to read ``ratio * x + shift``.

    ``ratio`` and ``shift`` are per feature.  Only the convolutions that read the windows
    change (``conv1``, and ``conv1_short`` of the ``multiscale`` trunk): each kernel is
    multiplied by ``ratio`` and each bias absorbs the convolution of ``shift``; the result is
    the same function of the raw values as before.
    """
    import keras

    ratio = np.asarray(ratio, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    copy = keras.models.clone_model(member)
    copy.set_weights(member.get_weights())
    names = {layer.name for layer in copy.layers}
    for name in [n for n in ("conv1", "conv1_short") if n in names]:
        conv = copy.get_layer(name)
        kernel, bias = (np.asarray(w, dtype=np.float64) for w in conv.get_weights())
        folded_bias = bias + np.einsum("wfo,f->o", kernel, shift)
        conv.set_weights([(kernel * ratio[None, :, None]).astype(np.float32),
                          folded_bias.astype(np.float32)])
    return copy
