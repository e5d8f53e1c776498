"""The three networks of the design: discriminator, generator and supervised baseline.

Defaults follow the public Exermote models; every size is a keyword argument.  Layer names
are part of the contract: the trunk layers are ``conv1``, ``conv2``, ``lstm1``, ``lstm2`` and
``dropout`` in every network that classifies, so weights move between the discriminator, the
baseline and the inference classifier by name, and the exporter finds them by name.

``trunk="pool"`` replaces the two LSTMs by the mean and the maximum of ``conv2``'s outputs over
the window (``mean_pool``, ``max_pool``, concatenated as ``pooled``): statistics of the window's
local shapes wherever they occur, which carried over to new people better than the LSTMs on the
smartwatch recordings (see docs/training.md).

``trunk="multiscale"`` runs two such pooled branches side by side on the same window: ``conv1``
and ``conv2`` of width ``kernel_size`` (pooled as ``pooled``) and ``conv1_short`` and
``conv2_short`` of width 3 (pooled as ``pooled_short``), each with ``conv_filters`` filters,
concatenated as ``scales`` before ``dropout``: one network for motions whose local shapes are
short on one dataset and long on another; ``train``'s default.
"""

from __future__ import annotations

import keras
from keras import layers

from .spec import (MULTISCALE_SHORT_KERNEL, MULTISCALE_TRUNK_LAYERS, POOL_TRUNK_LAYERS,
                   TRUNK_LAYERS, TRUNKS)


def trunk_of(model: keras.Model) -> str:
    """``"lstm"``, ``"pool"`` or ``"multiscale"``: which trunk a classifier or discriminator
    was built with (read from its layer names)."""
    names = {layer.name for layer in model.layers}
    if "lstm1" in names:
        return "lstm"
    return "multiscale" if "conv1_short" in names else "pool"


def joins_mean_then_max(concatenate) -> bool:
    """Whether a ``Concatenate`` layer joins a time mean, then a time maximum, of one tensor:
    the ``pooled`` layer of the ``pool`` trunk, as the exporters and NumPy copies compute it."""
    sources = [getattr(t, "_keras_history", None) for t in concatenate.input]
    kinds = [type(h.operation).__name__ if h else None for h in sources]
    if kinds != ["GlobalAveragePooling1D", "GlobalMaxPooling1D"]:
        return False
    pools = [h.operation for h in sources]
    inputs = [p.input for p in pools]
    return (inputs[0] is inputs[1] and concatenate.get_config().get("axis") in (-1, 1)
            and all(not p.get_config().get("keepdims")
                    and p.get_config().get("data_format", "channels_last") == "channels_last"
                    for p in pools))


def _producer(tensor):
    """The layer whose output ``tensor`` is (None for a tensor no layer made)."""
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history else None


def wires_multiscale(model: keras.Model) -> bool:
    """Whether ``model`` is wired as the ``multiscale`` trunk the exporters and NumPy copies
    compute: ``conv1`` -> ``conv2`` and ``conv1_short`` -> ``conv2_short`` both on the input,
    each pooled (mean, then max) into ``pooled`` and ``pooled_short``, joined in that order as
    ``scales``, then ``dropout``, then ``scores``."""
    names = {layer.name for layer in model.layers}
    if not {"conv1", "conv2", "conv1_short", "conv2_short", "pooled", "pooled_short", "scales",
            "dropout", "scores"} <= names:
        return False
    get = model.get_layer
    for suffix in ("", "_short"):
        first, second = get(f"conv1{suffix}"), get(f"conv2{suffix}")
        pooled = get(f"pooled{suffix}")
        mean = _producer(pooled.input[0]) if isinstance(pooled.input, list) else None
        if (type(_producer(first.input)).__name__ != "InputLayer"
                or _producer(second.input) is not first
                or type(pooled).__name__ != "Concatenate" or not joins_mean_then_max(pooled)
                or _producer(mean.input) is not second):
            return False
    scales = get("scales")
    return (type(scales).__name__ == "Concatenate"
            and isinstance(scales.input, list)
            and [_producer(t) for t in scales.input] == [get("pooled"), get("pooled_short")]
            and scales.get_config().get("axis") in (-1, 1)
            and _producer(get("dropout").input) is scales
            and _producer(get("scores").input) is get("dropout"))


def trunk_layers(model: keras.Model) -> tuple[str, ...]:
    """The names of ``model``'s trunk layers, the ones whose weights move between networks."""
    return {"lstm": TRUNK_LAYERS, "pool": POOL_TRUNK_LAYERS,
            "multiscale": MULTISCALE_TRUNK_LAYERS}[trunk_of(model)]


def _check_window_shape(timesteps: int, features: int, *, who: str):
    if int(timesteps) < 7 or int(features) < 1:
        raise ValueError(f"{who}: windows of (timesteps={timesteps}, features={features}) are "
                         "too small; the discriminator's trunk needs at least 7 timesteps "
                         "and 1 feature")


def _check_trunk(timesteps: int, features: int, *, conv_filters: int, kernel_size: int,
                 lstm_units: int, dropout: float, trunk: str, who: str):
    """The trunk's kind and sizes, and windows long enough for its convolutions."""
    if trunk not in TRUNKS:
        raise ValueError(f"{who}: trunk must be one of {', '.join(TRUNKS)}, got {trunk!r}")
    for name, value in (("features", features), ("conv_filters", conv_filters),
                        ("kernel_size", kernel_size), ("lstm_units", lstm_units)):
        if int(value) < 1:
            raise ValueError(f"{who}: {name} must be at least 1, got {value}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"{who}: dropout must be in [0, 1), got {dropout}")
    # conv1 (stride 2) must leave conv2 at least kernel_size steps (on each branch)
    widest = max(int(kernel_size), MULTISCALE_SHORT_KERNEL if trunk == "multiscale" else 1)
    shortest = 3 * widest - 2
    if int(timesteps) < shortest:
        raise ValueError(f"{who}: windows of {timesteps} timesteps are too short for "
                         f"convolutions of width {widest}; they need at least {shortest} "
                         "timesteps")


def _conv_pair(inputs, conv_filters: int, kernel_size: int, suffix: str = ""):
    """``conv1{suffix}`` (stride 2) then ``conv2{suffix}``, valid-padded ReLU convolutions."""
    x = layers.Conv1D(conv_filters, kernel_size, strides=2, activation="relu",
                      name=f"conv1{suffix}")(inputs)
    return layers.Conv1D(conv_filters, kernel_size, activation="relu", name=f"conv2{suffix}")(x)


def _mean_max(x, suffix: str = ""):
    """The mean, then the maximum, of ``x`` over time, concatenated as ``pooled{suffix}``."""
    return layers.Concatenate(name=f"pooled{suffix}")(
        [layers.GlobalAveragePooling1D(name=f"mean_pool{suffix}")(x),
         layers.GlobalMaxPooling1D(name=f"max_pool{suffix}")(x)])


def _trunk(inputs, *, conv_filters: int, kernel_size: int, lstm_units: int, dropout: float,
           trunk: str, dropout_layer=layers.Dropout):
    x = _conv_pair(inputs, conv_filters, kernel_size)
    if trunk == "pool":
        x = _mean_max(x)
    elif trunk == "multiscale":
        short = _conv_pair(inputs, conv_filters, MULTISCALE_SHORT_KERNEL, "_short")
        x = layers.Concatenate(name="scales")([_mean_max(x), _mean_max(short, "_short")])
    else:
        x = layers.LSTM(lstm_units, return_sequences=True, name="lstm1")(x)
        x = layers.LSTM(lstm_units, name="lstm2")(x)
    return dropout_layer(dropout, name="dropout")(x)


def build_discriminator(timesteps: int = 40, features: int = 12, num_classes: int = 4, *,
                        conv_filters: int = 32, kernel_size: int = 3, lstm_units: int = 32,
                        dropout: float = 0.2, trunk: str = "lstm",
                        name: str = "discriminator") -> keras.Model:
    """Windows ``(timesteps, features)`` -> ``valid`` (real/fake) and ``scores`` (K+1 classes).

    The last of the K+1 ``scores`` classes is "fake".  Besides the two heads of the original
    the model also returns their pre-activation logits (``valid_logit``, ``scores_logits``)
    and the trunk's ``features``, which numerically stable losses and feature matching need.

    Its dropout is a :class:`~exermote_sgan.models.replica_layers.GlobalBatchDropout`: plain
    ``Dropout`` in one process, and under ``train --distribute`` each replica's slice of the
    mask of the global batch (the inference classifier gets a plain ``Dropout``).
    """
    from .replica_layers import GlobalBatchDropout

    _check_trunk(timesteps, features, conv_filters=conv_filters, kernel_size=kernel_size,
                 lstm_units=lstm_units, dropout=dropout, trunk=trunk, who="build_discriminator")
    inputs = keras.Input((timesteps, features), name="windows")
    feats = _trunk(inputs, conv_filters=conv_filters, kernel_size=kernel_size,
                   lstm_units=lstm_units, dropout=dropout, trunk=trunk,
                   dropout_layer=GlobalBatchDropout)
    valid_logit = layers.Dense(1, name="valid_logit")(feats)
    scores_logits = layers.Dense(num_classes + 1, name="scores_logits")(feats)
    outputs = {
        "valid": layers.Activation("sigmoid", name="valid")(valid_logit),
        "scores": layers.Activation("softmax", name="scores")(scores_logits),
        "valid_logit": valid_logit,
        "scores_logits": scores_logits,
        "features": feats,
    }
    return keras.Model(inputs, outputs, name=name)


def build_baseline(timesteps: int = 40, features: int = 12, num_classes: int = 4, *,
                   conv_filters: int = 32, kernel_size: int = 3, lstm_units: int = 32,
                   dropout: float = 0.2, trunk: str = "lstm", name: str = "classifier",
                   global_batch_dropout: bool = False) -> keras.Model:
    """The discriminator's trunk with a K-way softmax head ``scores``.

    This is both the supervised baseline and the architecture of every inference classifier.
    ``global_batch_dropout=True`` trains it under ``train --distribute`` with a
    :class:`~exermote_sgan.models.replica_layers.GlobalBatchDropout` (each replica's slice of
    the global batch's mask); the classifier that is saved has a plain ``Dropout``.
    """
    _check_trunk(timesteps, features, conv_filters=conv_filters, kernel_size=kernel_size,
                 lstm_units=lstm_units, dropout=dropout, trunk=trunk, who="build_baseline")
    dropout_layer = layers.Dropout
    if global_batch_dropout:
        from .replica_layers import GlobalBatchDropout as dropout_layer
    inputs = keras.Input((timesteps, features), name="windows")
    feats = _trunk(inputs, conv_filters=conv_filters, kernel_size=kernel_size,
                   lstm_units=lstm_units, dropout=dropout, trunk=trunk,
                   dropout_layer=dropout_layer)
    scores = layers.Dense(num_classes, activation="softmax", name="scores")(feats)
    return keras.Model(inputs, scores, name=name)


def classifier_from_discriminator(discriminator: keras.Model) -> keras.Model:
    """The inference classifier of an SGAN: trunk and ``scores`` head without the fake class.

    Softmax over the first K of K+1 logits equals the K real-class probabilities renormalised
    to sum to one, so the classifier is a plain baseline-architecture model (no Lambda layer)
    whose head holds the first K columns of the discriminator's ``scores_logits``.
    """
    head_kernel, head_bias = discriminator.get_layer("scores_logits").get_weights()
    num_classes = head_kernel.shape[1] - 1
    classifier = build_like(discriminator, num_classes)
    for layer_name in trunk_layers(discriminator):
        classifier.get_layer(layer_name).set_weights(
            discriminator.get_layer(layer_name).get_weights())
    classifier.get_layer("scores").set_weights([head_kernel[:, :num_classes],
                                                head_bias[:num_classes]])
    return classifier


def build_like(model: keras.Model, num_classes: int) -> keras.Model:
    """A fresh baseline-architecture classifier with ``model``'s trunk kind and sizes."""
    conv1 = model.get_layer("conv1")
    trunk = trunk_of(model)
    _, timesteps, features = model.input_shape
    recurrent = {"lstm_units": model.get_layer("lstm1").units} if trunk == "lstm" else {}
    return build_baseline(timesteps, features, num_classes, conv_filters=conv1.filters,
                          kernel_size=conv1.kernel_size[0], trunk=trunk,
                          dropout=model.get_layer("dropout").rate, **recurrent)


def build_generator(timesteps: int = 40, features: int = 12, *, noise_dim: int = 100,
                    padding_steps: int = 20, expansion: int = 5, lstm_units: int | None = None,
                    conv_filters: tuple[int, int] = (128, 64),
                    output_range: tuple[float, float] = (0.0, 1.0),
                    unroll: bool = False, architecture: str = "lstm",
                    name: str = "generator") -> keras.Model:
    """Noise ``(noise_dim,)`` -> a window ``(timesteps, features)`` in ``output_range``.

    The original's LSTM + Conv2D generator: a dense projection to ``2*timesteps+padding_steps``
    steps of ``features*expansion`` channels, two LSTMs, average pooling back to ``features``
    columns, three (1, 3)/(3, 3) convolutions, pooling by two over time and cropping to
    ``timesteps``.  Its output range matches the range real windows are scaled to, so the
    discriminator cannot tell fakes by their sign.  ``unroll=True`` unrolls the two LSTMs,
    which trades a bigger graph for much faster steps on CPU (the recurrent loop's per-step
    overhead dominates the generator's cost otherwise).

    ``architecture="conv"`` builds instead a small convolutional generator (DCGAN-style: dense
    projection to a quarter of the timesteps, two upsampling + Conv1D blocks with batch
    normalisation, a sigmoid Conv1D to ``features`` channels), about ten times cheaper per
    training step on CPU than the recurrent one; ``conv_filters`` sizes its two blocks and the
    LSTM options are ignored.
    """
    _check_window_shape(timesteps, features, who="build_generator")
    if architecture == "conv":
        return _conv_generator(timesteps, features, noise_dim=noise_dim,
                               conv_filters=conv_filters, output_range=output_range, name=name)
    if architecture != "lstm":
        raise ValueError(f"build_generator: architecture must be 'lstm' or 'conv', "
                         f"got {architecture!r}")
    if padding_steps % 4 != 0:
        raise ValueError(f"build_generator: padding_steps must be a multiple of 4, "
                         f"got {padding_steps}")
    low, high = (float(v) for v in output_range)
    steps = 2 * timesteps + padding_steps
    channels = features * expansion
    lstm_units = channels if lstm_units is None else int(lstm_units)
    crop = padding_steps // 4

    noise = keras.Input((noise_dim,), name="noise")
    x = layers.Dense(steps * channels, activation="relu", name="project")(noise)
    x = layers.Reshape((steps, channels), name="to_sequence")(x)
    x = layers.LSTM(lstm_units, return_sequences=True, unroll=unroll, name="g_lstm1")(x)
    x = layers.LSTM(channels, return_sequences=True, unroll=unroll, name="g_lstm2")(x)
    x = layers.Reshape((steps, channels, 1), name="to_image")(x)
    x = layers.AveragePooling2D((1, expansion), name="pool_features")(x)
    x = layers.Conv2D(conv_filters[0], (1, 3), padding="same", activation="relu", name="g_conv1")(x)
    x = layers.Conv2D(conv_filters[1], (1, 3), padding="same", activation="relu", name="g_conv2")(x)
    x = layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="g_conv3")(x)
    x = layers.AveragePooling2D((2, 1), name="pool_time")(x)
    x = layers.Cropping2D(((crop, crop), (0, 0)), name="crop")(x)
    x = layers.Reshape((timesteps, features), name="window")(x)
    if (low, high) != (0.0, 1.0):
        x = layers.Rescaling(high - low, offset=low, name="to_output_range")(x)
    return keras.Model(noise, x, name=name)


def _conv_generator(timesteps: int, features: int, *, noise_dim: int,
                    conv_filters: tuple[int, int], output_range: tuple[float, float],
                    name: str) -> keras.Model:
    # batch statistics over the global batch under train --distribute (plain BatchNormalization
    # in one process)
    from .replica_layers import GlobalBatchNormalization

    low, high = (float(v) for v in output_range)
    base = -(-int(timesteps) // 4)  # ceil(timesteps / 4)
    first, second = (int(f) for f in conv_filters)
    noise = keras.Input((noise_dim,), name="noise")
    x = layers.Dense(base * first, name="project")(noise)
    x = GlobalBatchNormalization(name="project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    x = layers.Reshape((base, first), name="to_sequence")(x)
    for i, filters in enumerate((first, second), start=1):
        x = layers.UpSampling1D(2, name=f"g_up{i}")(x)
        x = layers.Conv1D(filters, 5, padding="same", name=f"g_conv{i}")(x)
        x = GlobalBatchNormalization(name=f"g_bn{i}")(x)
        x = layers.ReLU(name=f"g_relu{i}")(x)
    x = layers.Conv1D(features, 5, padding="same", activation="sigmoid", name="g_conv3")(x)
    extra = 4 * base - int(timesteps)
    if extra:
        x = layers.Cropping1D((extra // 2, extra - extra // 2), name="crop")(x)
    if (low, high) != (0.0, 1.0):
        x = layers.Rescaling(high - low, offset=low, name="to_output_range")(x)
    return keras.Model(noise, x, name=name)
