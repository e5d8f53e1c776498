"""The semi-supervised GAN's losses, as pure functions of tensors.

The discriminator has two heads (see :func:`~exermote_sgan.models.networks.build_discriminator`):
``valid_logit`` (real vs generated) and ``scores_logits`` over K real classes plus a last
"fake" class.  The losses follow Salimans et al. 2016, "Improved Techniques for Training GANs":

- labeled real windows: cross-entropy of their class among the K+1 (:func:`supervised_loss`);
- unlabeled real windows: "valid" and "not the fake class" (:func:`unsupervised_real_loss`);
- generated windows: "not valid" and "the fake class" (:func:`unsupervised_fake_loss`);
- the generator either fools ``valid`` as the original Exermote SGAN did
  (:func:`generator_adversarial_loss`) or matches the mean of the discriminator's trunk
  features on real windows (:func:`feature_matching_loss`), which is what makes the
  discriminator a good classifier in the semi-supervised setting.

Everything is computed from logits with ``logsumexp`` so that no probability is ever rounded to
zero before a log.  Every function returns a scalar (the mean over the batch) and works on any
Keras backend.  ``batch_mean`` (optional in every function) takes the means over the batch
instead: :func:`~exermote_sgan.training.global_batch.batch_mean` gives a replica of a
``tf.distribute`` strategy the mean over the *global* batch, so nonlinear terms (feature
matching, prior matching) and the class-weighted mean are those of one process.
"""

from __future__ import annotations

from keras import ops


def _weighted_mean(values, sample_weight=None):
    values = ops.cast(values, "float32")
    if sample_weight is None:
        return ops.mean(values)
    sample_weight = ops.cast(ops.reshape(sample_weight, ops.shape(values)), "float32")
    return ops.sum(values * sample_weight) / ops.maximum(ops.sum(sample_weight), 1e-12)


def binary_crossentropy_from_logits(target, logits):
    """Per-sample ``-t log(sigmoid(z)) - (1-t) log(1-sigmoid(z))`` for logits ``z`` (any shape)."""
    logits = ops.cast(logits, "float32")
    target = ops.cast(target, "float32")
    # max(z, 0) - z t + log(1 + exp(-|z|)): the stable form of the expression above
    return ops.relu(logits) - logits * target + ops.log1p(ops.exp(-ops.abs(logits)))


def fix_fake_logit(scores_logits):
    """The K+1 logits with the fake class's logit replaced by 0.

    Salimans et al. note that a K+1 softmax is over-parameterised; fixing the fake logit at 0
    gives ``P(fake) = 1 / (Z + 1)`` with ``Z`` the sum of the K real classes' ``exp(logit)``.
    """
    real = scores_logits[..., :-1]
    return ops.concatenate([real, ops.zeros_like(scores_logits[..., -1:])], axis=-1)


def supervised_loss(labels, scores_logits, *, sample_weight=None, batch_mean=None):
    """Cross-entropy of the true class (0..K-1) among the K+1 classes, weighted mean over windows.

    ``sample_weight`` (per window) carries the class weights that balance rare classes.
    """
    logits = ops.cast(scores_logits, "float32")
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    picked = ops.take_along_axis(logits, ops.expand_dims(labels, -1), axis=-1)[..., 0]
    per_window = ops.logsumexp(logits, axis=-1) - picked
    return (batch_mean or _weighted_mean)(per_window, sample_weight)


def unsupervised_real_loss(valid_logit, scores_logits, *, label_smoothing: float = 0.0,
                           batch_mean=None):
    """Real unlabeled windows: ``valid`` should say real, ``scores`` should say "not fake".

    ``BCE(valid, 1 - label_smoothing) - log(1 - P(fake))``, with
    ``-log(1 - P(fake)) = logsumexp(all K+1 logits) - logsumexp(K real logits)``.
    One-sided label smoothing (Salimans et al.) lowers only the real target of ``valid``.
    """
    logits = ops.cast(scores_logits, "float32")
    not_fake = ops.logsumexp(logits, axis=-1) - ops.logsumexp(logits[..., :-1], axis=-1)
    valid = binary_crossentropy_from_logits(1.0 - label_smoothing,
                                            ops.reshape(valid_logit, (-1,)))
    mean = batch_mean or _weighted_mean
    return mean(valid) + mean(not_fake)


def unsupervised_fake_loss(valid_logit, scores_logits, *, batch_mean=None):
    """Generated windows: ``valid`` should say generated, ``scores`` the fake (last) class.

    ``BCE(valid, 0) - log P(fake)``, with ``-log P(fake) = logsumexp(all) - fake logit``.
    """
    logits = ops.cast(scores_logits, "float32")
    fake = ops.logsumexp(logits, axis=-1) - logits[..., -1]
    valid = binary_crossentropy_from_logits(0.0, ops.reshape(valid_logit, (-1,)))
    mean = batch_mean or _weighted_mean
    return mean(valid) + mean(fake)


def generator_adversarial_loss(valid_logit, *, batch_mean=None):
    """The original Exermote generator objective: generated windows should look valid.

    ``BCE(valid, 1)`` on generated windows, i.e. the non-saturating ``-log D(G(z))``.
    """
    return (batch_mean or _weighted_mean)(
        binary_crossentropy_from_logits(1.0, ops.reshape(valid_logit, (-1,))))


def feature_matching_loss(real_features, fake_features, *, batch_mean=None):
    """Squared distance between the batch means of the trunk features on real and generated windows.

    ``mean_j (mean_i f(x_i)_j - mean_i f(G(z_i))_j) ** 2`` (Salimans et al. 2016, section 3.1).
    The real features are treated as constants by the caller (no gradient into the
    discriminator from the generator's loss).
    """
    if batch_mean is not None:
        real_mean = batch_mean(real_features, axis=0)
        fake_mean = batch_mean(fake_features, axis=0)
    else:
        real_mean = ops.mean(ops.cast(real_features, "float32"), axis=0)
        fake_mean = ops.mean(ops.cast(fake_features, "float32"), axis=0)
    return ops.mean(ops.square(real_mean - fake_mean))


def entropy_loss(scores_logits, *, batch_mean=None):
    """Mean entropy of the K real-class probabilities (fake class excluded).

    Minimising it on unlabeled windows (Grandvalet & Bengio 2005) pushes the decision boundaries
    away from dense regions of unlabeled data.
    """
    logits = ops.cast(scores_logits, "float32")[..., :-1]
    log_p = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
    return (batch_mean or _weighted_mean)(-ops.sum(ops.exp(log_p) * log_p, axis=-1))


def prior_matching_loss(scores_logits, class_prior, *, batch_mean=None):
    """``KL(prior || mean prediction)`` over the K real classes of a batch of unlabeled windows.

    ``mean prediction`` is the batch mean of the K real-class probabilities (fake class
    excluded) and ``class_prior`` the K class frequencies expected among those windows (those of
    the labeled windows).  With few labels the unlabeled terms can let a whole class drain into
    another (Burpee into Break was seen); this keeps the predicted class mix on unlabeled data
    at the labeled one, as the marginal terms of CatGAN (Springenberg 2016) and the
    distribution alignment of ReMixMatch (Berthelot et al. 2020) do.  Classes with prior 0
    contribute nothing.
    """
    logits = ops.cast(scores_logits, "float32")[..., :-1]
    log_p = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
    if batch_mean is not None:
        log_mean = ops.log(batch_mean(ops.exp(log_p), axis=0))
    else:
        count = ops.cast(ops.shape(log_p)[0], "float32")
        log_mean = ops.logsumexp(log_p, axis=0) - ops.log(count)
    prior = ops.cast(ops.reshape(class_prior, (-1,)), "float32")
    log_prior = ops.log(ops.maximum(prior, 1e-30))
    return ops.sum(prior * (log_prior - log_mean))
