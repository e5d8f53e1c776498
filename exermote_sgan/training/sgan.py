"""The semi-supervised GAN as a Keras model with its own training step.

Each step sees three batches: labeled real windows, unlabeled real windows and windows the
generator makes from noise.  The discriminator learns the classes from the first, "real and
not fake" from the second and "generated and fake" from the third; the generator then learns
to fool it, either as the original Exermote SGAN did (``valid``) or by feature matching
(Salimans et al. 2016).  The structure follows the Keras example ``conditional_gan.py``:
a ``keras.Model`` subclass with its own ``compile(d_optimizer, g_optimizer)``, ``train_step``
and ``test_step``, ``keras.metrics.Mean`` trackers and a ``keras.random.SeedGenerator``.

Under ``train --distribute`` (``tf.distribute``, R replicas) each replica takes its slice of
what one process would do with the global batch (:mod:`.global_batch`): its rows of the
generator noise and dropout masks drawn for the whole batch, losses whose batch means are
all-reduced, and gradients of ``loss / R`` that the optimizers sum over the replicas.  Without
a strategy the step is the one-process step, draw for draw.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..models.replica_layers import segments
from . import global_batch, losses
from .config import FAKE_LOGITS, GENERATOR_LOSSES


class SGAN(keras.Model):
    """Discriminator + generator trained together; ``call`` gives the K real-class logits.

    Parameters
    ----------
    discriminator, generator:
        from :func:`~exermote_sgan.models.networks.build_discriminator` and
        :func:`~exermote_sgan.models.networks.build_generator`; the generator's output shape
        must be the discriminator's input shape.
    generator_loss:
        ``"feature_matching"`` (Salimans et al.), ``"adversarial"`` (fool ``valid``, the
        original's) or ``"both"`` (their sum).
    fake_logit:
        ``"zero"`` fixes the fake class's logit at 0 (Salimans et al.), ``"learned"`` uses the
        discriminator's own last logit.
    label_smoothing:
        one-sided: the target of ``valid`` on real windows is ``1 - label_smoothing``.
    unsupervised_weight, entropy_weight:
        weights of the real/fake terms and of entropy minimisation on unlabeled windows in the
        discriminator's loss (the supervised term has weight 1).
    prior_weight, class_prior:
        weight of :func:`~exermote_sgan.training.losses.prior_matching_loss` on unlabeled
        windows, which keeps their predicted class mix at ``class_prior`` (K frequencies,
        those of the labeled windows; required when ``prior_weight`` is not 0).
    generated_batch_size:
        windows generated per step (the global batch under a strategy: each of R replicas
        generates ``generated_batch_size / R``); ``None`` generates as many as the unlabeled
        batch holds.
    seed:
        seed of the noise; ``None`` draws from Keras' global seed.
    ema_decay:
        keep an exponential moving average of the discriminator's weights (Polyak averaging,
        which steadies the classifier that adversarial training keeps pushing around); ``0``
        keeps none.  The decay ramps up as ``min(ema_decay, t / (t + 10))`` over the first
        steps ``t``, so early weights do not linger in the average.
    """

    def __init__(self, discriminator: keras.Model, generator: keras.Model, *,
                 generator_loss: str = "feature_matching", fake_logit: str = "zero",
                 label_smoothing: float = 0.1, unsupervised_weight: float = 1.0,
                 entropy_weight: float = 0.0, prior_weight: float = 0.0, class_prior=None,
                 generated_batch_size: int | None = None, seed: int | None = None,
                 ema_decay: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if generator_loss not in GENERATOR_LOSSES:
            raise ValueError(f"SGAN: generator_loss must be one of {GENERATOR_LOSSES}, "
                             f"got {generator_loss!r}")
        if fake_logit not in FAKE_LOGITS:
            raise ValueError(f"SGAN: fake_logit must be one of {FAKE_LOGITS}, got {fake_logit!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"SGAN: label_smoothing must be in [0, 1), got {label_smoothing}")
        if generated_batch_size is not None and int(generated_batch_size) < 2:
            raise ValueError("SGAN: generated_batch_size must be at least 2 (feature matching "
                             f"compares batch means), got {generated_batch_size}")
        if not 0.0 <= float(ema_decay) < 1.0:
            raise ValueError(f"SGAN: ema_decay must be in [0, 1), got {ema_decay}")
        g_shape = tuple(generator.output_shape[1:])
        d_shape = tuple(discriminator.input_shape[1:])
        if g_shape != d_shape:
            raise ValueError(f"SGAN: the generator makes windows of shape {g_shape} (timesteps, "
                             f"features) but the discriminator reads {d_shape}")
        self.discriminator = discriminator
        self.generator = generator
        self.timesteps, self.num_features = d_shape
        self.num_classes = int(discriminator.get_layer("scores_logits").units) - 1
        self.prior_weight = float(prior_weight)
        self.class_prior = None
        if self.prior_weight:
            self.class_prior = self._checked_prior(class_prior)
        self.noise_dim = int(generator.input_shape[-1])
        self.generator_loss = generator_loss
        self.fake_logit = fake_logit
        self.label_smoothing = float(label_smoothing)
        self.unsupervised_weight = float(unsupervised_weight)
        self.entropy_weight = float(entropy_weight)
        self.generated_batch_size = None if generated_batch_size is None else \
            int(generated_batch_size)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.ema_decay = float(ema_decay)
        self.averaged_weights = []  # the moving averages, one per discriminator variable
        if self.ema_decay:
            self.averaged_weights = [
                keras.Variable(ops.convert_to_numpy(v), trainable=False, name=f"average_{i}")
                for i, v in enumerate(discriminator.trainable_variables)]
            self.average_steps = keras.Variable(0.0, trainable=False, name="average_steps")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.supervised_loss_tracker = keras.metrics.Mean(name="supervised_loss")
        self.unsupervised_loss_tracker = keras.metrics.Mean(name="unsupervised_loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.built = True  # both networks are built functional models

    def _checked_prior(self, class_prior):
        if class_prior is None:
            raise ValueError("SGAN: prior_weight needs class_prior, the K class frequencies "
                             "expected among unlabeled windows")
        prior = np.asarray(class_prior, dtype=np.float64).reshape(-1)
        if len(prior) != self.num_classes or np.any(prior < 0) or not prior.sum() > 0:
            raise ValueError(f"SGAN: class_prior must be {self.num_classes} non-negative "
                             f"frequencies (one per class), got {list(class_prior)}")
        return (prior / prior.sum()).astype(np.float32)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.supervised_loss_tracker,
                self.unsupervised_loss_tracker, self.accuracy_tracker]

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Set the two optimizers (default Adam(2e-4, beta_1=0.5) each, as in the original)."""
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        # the discriminator's optimizer doubles as ``self.optimizer`` for Keras' own machinery
        super().compile(optimizer=self.d_optimizer, **kwargs)
        # built now so that a resume (training.backup) can restore their state
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def call(self, windows, training=False):
        """Logits of the K real classes for scaled windows ``(batch, timesteps, features)``."""
        return self.discriminator(windows, training=training)["scores_logits"][..., :-1]

    # -- pieces of a step ------------------------------------------------------------------
    def _class_logits(self, outputs):
        logits = outputs["scores_logits"]
        return losses.fix_fake_logit(logits) if self.fake_logit == "zero" else logits

    def _noise(self, count):
        # this replica's rows of the noise of the global batch (all of it in one process)
        return global_batch.normal(count, self.noise_dim, seed=self.seed_generator)

    @staticmethod
    def _batch_mean():
        """Means over the global batch when replicas split it; ``None``: the losses' own."""
        return global_batch.batch_mean if global_batch.replica()[1] > 1 else None

    def _generated_count(self, unlabeled):
        if self.generated_batch_size is None:
            return ops.shape(unlabeled)[0]
        replicas = global_batch.replica()[1]
        if self.generated_batch_size % replicas:
            raise ValueError(f"SGAN: generated_batch_size {self.generated_batch_size} is the "
                             f"global batch and must split evenly over {replicas} replicas")
        return self.generated_batch_size // replicas

    def _generator_objective(self, real_features, fake_outputs):
        terms, mean = [], self._batch_mean()
        if self.generator_loss in ("feature_matching", "both"):
            terms.append(losses.feature_matching_loss(ops.stop_gradient(real_features),
                                                      fake_outputs["features"],
                                                      batch_mean=mean))
        if self.generator_loss in ("adversarial", "both"):
            terms.append(losses.generator_adversarial_loss(fake_outputs["valid_logit"],
                                                           batch_mean=mean))
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]

    def discriminator_losses(self, labeled, labels, sample_weight, unlabeled, generated, *,
                             training=True):
        """The discriminator's losses on the three batches.

        Returns ``(total, supervised, unsupervised, outputs, n_labeled, n_unlabeled)`` where
        ``outputs`` are the discriminator's outputs on the concatenated batches.

        The three batches go through the discriminator as one, which is much faster for the
        recurrent trunk than three calls.  Under a strategy the losses are those of the global
        batch, the same on every replica (see :mod:`.global_batch`).
        """
        n_lab, n_unl = ops.shape(labeled)[0], ops.shape(unlabeled)[0]
        mean = self._batch_mean()
        with segments(n_lab, n_unl, ops.shape(generated)[0]):
            outputs = self.discriminator(
                ops.concatenate([labeled, unlabeled, generated], axis=0), training=training)
        logits = self._class_logits(outputs)
        valid = outputs["valid_logit"]
        supervised = losses.supervised_loss(labels, logits[:n_lab], sample_weight=sample_weight,
                                            batch_mean=mean)
        unl_logits = logits[n_lab:n_lab + n_unl]
        unsupervised = (
            losses.unsupervised_real_loss(valid[n_lab:n_lab + n_unl], unl_logits,
                                          label_smoothing=self.label_smoothing, batch_mean=mean)
            + losses.unsupervised_fake_loss(valid[n_lab + n_unl:], logits[n_lab + n_unl:],
                                            batch_mean=mean))
        total = supervised + self.unsupervised_weight * unsupervised
        if self.entropy_weight:
            total = total + self.entropy_weight * losses.entropy_loss(unl_logits,
                                                                      batch_mean=mean)
        if self.prior_weight:
            total = total + self.prior_weight * losses.prior_matching_loss(
                unl_logits, self.class_prior, batch_mean=mean)
        return total, supervised, unsupervised, outputs, n_lab, n_unl

    def _update_averages(self, variables):
        if not self.ema_decay:
            return
        steps = self.average_steps.value
        decay = ops.minimum(self.ema_decay, steps / (steps + 10.0))
        for average, variable in zip(self.averaged_weights, variables):
            average.assign(decay * average + (1.0 - decay) * variable)
        self.average_steps.assign(steps + 1.0)

    def swap_averaged_weights(self) -> None:
        """Exchange the discriminator's weights with their moving averages (again to undo).

        Validation swaps the averages in and back out; the final classifier keeps them.
        Does nothing when the SGAN keeps no averages (``ema_decay=0``).
        """
        for average, variable in zip(self.averaged_weights,
                                     self.discriminator.trainable_variables):
            current = ops.convert_to_numpy(variable)
            variable.assign(average)
            average.assign(current)

    # -- Keras hooks -----------------------------------------------------------------------
    def train_step(self, data):
        import tensorflow as tf

        (labeled, labels, sample_weight), unlabeled = data
        n_generated = self._generated_count(unlabeled)
        # One generated batch serves both updates: the discriminator learns from it as a
        # constant, then the generator is updated through the updated discriminator.
        with tf.GradientTape() as g_tape:
            generated = self.generator(self._noise(n_generated), training=True)
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    (d_total, supervised, unsupervised, outputs, n_lab,
                     n_unl) = self.discriminator_losses(labeled, labels, sample_weight,
                                                        unlabeled, ops.stop_gradient(generated))
                    # under a strategy the optimizer sums the replicas' gradients of loss / R
                    d_share = global_batch.for_gradient(d_total)
                d_vars = self.discriminator.trainable_variables
                d_grads = d_tape.gradient(d_share, d_vars)
                self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
                self._update_averages(d_vars)
            real_features = outputs["features"][n_lab:n_lab + n_unl]
            fake_outputs = self.discriminator(generated, training=True)
            g_total = self._generator_objective(real_features, fake_outputs)
            g_share = global_batch.for_gradient(g_total)
        g_vars = self.generator.trainable_variables
        g_grads = g_tape.gradient(g_share, g_vars)
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars))

        predicted = ops.argmax(outputs["scores_logits"][:n_lab, :-1], axis=-1)
        correct = ops.cast(ops.equal(predicted, ops.cast(ops.reshape(labels, (-1,)),
                                                         predicted.dtype)), "float32")
        self.d_loss_tracker.update_state(d_total)
        self.g_loss_tracker.update_state(g_total)
        self.supervised_loss_tracker.update_state(supervised)
        self.unsupervised_loss_tracker.update_state(unsupervised)
        self.accuracy_tracker.update_state(correct)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        """Supervised loss and accuracy on labeled windows ``(x, y)`` or ``(x, y, weight)``."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        outputs = self.discriminator(x, training=False)
        supervised = losses.supervised_loss(y, self._class_logits(outputs),
                                            sample_weight=sample_weight)
        predicted = ops.argmax(outputs["scores_logits"][:, :-1], axis=-1)
        correct = ops.cast(ops.equal(predicted, ops.cast(ops.reshape(y, (-1,)), predicted.dtype)),
                           "float32")
        self.supervised_loss_tracker.update_state(supervised)
        self.accuracy_tracker.update_state(correct)
        return {m.name: m.result() for m in (self.supervised_loss_tracker, self.accuracy_tracker)}

    def generate(self, count: int, *, seed: int | None = None):
        """``count`` generated windows (scaled units) as a NumPy array."""
        noise = keras.random.normal((int(count), self.noise_dim),
                                    seed=seed if seed is not None else self.seed_generator)
        return ops.convert_to_numpy(self.generator(noise, training=False))
