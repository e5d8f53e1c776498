"""The classifier's inference graph as a TensorFlow function made of ops Core ML converts.

``coremltools.convert`` cannot translate a Keras-3 model with LSTM layers, but it translates a
TensorFlow graph whose LSTMs are ``BlockLSTMV2`` ops into real Core ML ``lstm`` ops.  This
module rebuilds the inference graph from the trained weights that way, with the training
scaler in front, so the exported model takes raw sensor values.  Every op is named, which
keeps the converted program readable.
"""

from __future__ import annotations

import numpy as np

from ..data.scaler import MinMaxScaler
from .weights import ClassifierWeights, EnsembleWeights


def inference_function(weights: ClassifierWeights | EnsembleWeights,
                       scaler: MinMaxScaler | None, *, batch_size: int | None = 1,
                       lstm: str = "block", input_name: str = "accelerations"):
    """A concrete ``tf.function``: RAW windows ``(batch, T, F)`` -> ``{"scores": (batch, K)}``.

    The ``pool`` trunk becomes a mean and a max reduction over time, the ``multiscale`` trunk
    two such branches whose four reductions are concatenated; ``lstm`` does not apply.
    An ensemble's members are computed side by side (op names prefixed ``m0_``, ``m1_``...)
    and their probabilities averaged.

    ``scaler=None`` leaves the input as it is (for models fed already-scaled values).
    ``batch_size=None`` traces a flexible batch dimension.  ``lstm="block"`` uses
    ``BlockLSTMV2`` (what Core ML converts); ``lstm="unrolled"`` spells every step out in
    matmuls and activations (what TFLite runs without its Flex delegate).  ``input_name``
    names the input (see :func:`exermote_sgan.export.naming.input_name`).
    """
    if lstm not in ("block", "unrolled"):
        raise ValueError(f"lstm must be 'block' or 'unrolled', got {lstm!r}")
    import tensorflow as tf

    const = tf.constant
    lstm_layer = _block_lstm if lstm == "block" else _unrolled_lstm
    if scaler is not None:
        scale = const(np.asarray(scaler.scale_, np.float32)[None, None, :], name="scaler_scale")
        offset = const(np.asarray(scaler.offset_, np.float32)[None, None, :], name="scaler_offset")

    def forward(raw):
        x = raw
        if scaler is not None:
            x = tf.add(tf.multiply(x, scale, name="scale_mul"), offset, name="scale_add")
        members = getattr(weights, "members", None)
        if not members:
            return {"scores": _probabilities(x, weights, "", "scores", lstm_layer)}
        each = [_probabilities(x, w, f"m{i}_", f"m{i}_scores", lstm_layer)
                for i, w in enumerate(members)]
        return {"scores": tf.multiply(tf.add_n(each, name="sum_scores"),
                                      const(np.float32(1.0 / len(each)), name="one_over_n"),
                                      name="scores")}

    spec = tf.TensorSpec((batch_size, weights.timesteps, weights.features), tf.float32,
                         name=input_name)
    return tf.function(forward).get_concrete_function(spec)


def _probabilities(x, w: ClassifierWeights, prefix: str, name: str, lstm_layer):
    """One network's class probabilities on scaled windows, its ops named ``prefix...``."""
    import tensorflow as tf

    const = tf.constant
    if w.trunk != "lstm":  # pool or multiscale: each branch's mean and max over time
        pooled = []
        for (first, second), suffix in zip(w.branches, ("", "_short")):
            y = _conv(_conv(x, first, f"{prefix}conv1{suffix}"), second,
                      f"{prefix}conv2{suffix}")
            pooled += [tf.reduce_mean(y, axis=1, name=f"{prefix}mean_pool{suffix}"),
                       tf.reduce_max(y, axis=1, name=f"{prefix}max_pool{suffix}")]
        last = tf.concat(pooled, axis=1, name=f"{prefix}pooled")
    else:
        x = _conv(x, w.conv1, f"{prefix}conv1")
        x = _conv(x, w.conv2, f"{prefix}conv2")
        x = tf.transpose(x, [1, 0, 2], name=f"{prefix}to_time_major")
        x = lstm_layer(x, w.lstm1, f"{prefix}lstm1")
        x = lstm_layer(x, w.lstm2, f"{prefix}lstm2")
        last = tf.gather(x, x.shape[0] - 1, axis=0, name=f"{prefix}last_step")
    logits = tf.nn.bias_add(
        tf.matmul(last, const(w.dense_kernel, name=f"{prefix}dense_kernel"),
                  name=f"{prefix}dense_mul"),
        const(w.dense_bias, name=f"{prefix}dense_bias"), name=f"{prefix}dense_add")
    return tf.nn.softmax(logits, name=name)


def _conv(x, layer, name: str):
    """A valid-padded ReLU Conv1D."""
    import tensorflow as tf

    const = tf.constant
    y = tf.nn.conv1d(x, const(layer.kernel, name=f"{name}_kernel"), stride=layer.stride,
                     padding="VALID", name=f"{name}_conv")
    return tf.nn.relu(tf.nn.bias_add(y, const(layer.bias, name=f"{name}_bias"),
                                     name=f"{name}_add"), name=f"{name}_relu")


def _block_lstm(x_time_major, layer, name: str):
    """The LSTM as one ``BlockLSTMV2`` op: h for every step, ``(T, batch, units)``."""
    import tensorflow as tf

    const = tf.constant
    steps = x_time_major.shape[0]
    batch = tf.shape(x_time_major)[1]
    zeros = tf.zeros(tf.stack([batch, layer.units]), name=f"{name}_zeros")
    peephole = const(np.zeros(layer.units, np.float32), name=f"{name}_peephole")
    w = const(np.concatenate([layer.kernel, layer.recurrent], axis=0), name=f"{name}_w")
    outputs = tf.raw_ops.BlockLSTMV2(
        seq_len_max=const(np.int64(steps), name=f"{name}_steps"), x=x_time_major,
        cs_prev=zeros, h_prev=zeros, w=w, wci=peephole, wcf=peephole, wco=peephole,
        b=const(layer.bias, name=f"{name}_b"), cell_clip=0.0, use_peephole=False,
        name=f"{name}_block")
    return outputs[-1]


def _unrolled_lstm(x_time_major, layer, name: str):
    """The LSTM spelt out step by step in matmuls and activations (TFLite's builtin ops)."""
    import tensorflow as tf

    units = layer.units
    kernel = tf.constant(layer.kernel, name=f"{name}_kernel")
    recurrent = tf.constant(layer.recurrent, name=f"{name}_recurrent")
    bias = tf.constant(layer.bias, name=f"{name}_bias")
    h = c = None
    outputs = []
    for t in range(x_time_major.shape[0]):
        z = tf.matmul(x_time_major[t], kernel, name=f"{name}_x{t}") + bias
        if h is not None:
            z = z + tf.matmul(h, recurrent, name=f"{name}_h{t}")
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
        update = tf.sigmoid(i) * tf.tanh(g)
        c = update if c is None else tf.sigmoid(f) * c + update
        h = tf.sigmoid(o) * tf.tanh(c)
        outputs.append(h)
    return tf.stack(outputs, axis=0, name=f"{name}_sequence")
