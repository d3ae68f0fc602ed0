"""The machinery under vae_gan.py's step: the three networks with an optimizer each (Adam as the
original, or DeepPy's RMSProp as the official code), each network's learning rate per epoch, the
gradients it gets (an L2 penalty, the replicas' share, the loss scale), the update that applies them
or skips it under the balance rule, and the tf.distribute strategy the steps run under, with their noise.
"""
import dataclasses
import os

import keras
import tensorflow as tf

import models
from configurator import UsageError


@dataclasses.dataclass
class Networks:
    """The three networks and one optimizer each, keyed by network name: nets['decoder'],
    nets.optimizers['decoder']."""
    encoder: keras.Model
    decoder: keras.Model
    discriminator: keras.Model
    optimizers: dict
    averages: dict = dataclasses.field(default_factory=dict)  # with ema_decay: {'encoder': ..., 'decoder': ...}

    def __getitem__(self, name):
        return getattr(self, name)

    def sampling(self):
        """{'encoder', 'decoder'}: what grids, scores and best/ use: the weights' averages when kept."""
        return self.averages or {'encoder': self.encoder, 'decoder': self.decoder}


def build_networks(cfg):
    """The encoder, decoder and discriminator (models.py) with an optimizer each; with ema_decay, a copy of
    the encoder and decoder for their averages."""
    encoder, decoder, discriminator = (models.build_encoder(cfg), models.build_decoder(cfg),
                                       models.build_discriminator(cfg))
    averages = {}
    if cfg.ema_decay is not None:
        averages = {'encoder': models.build_encoder(cfg), 'decoder': models.build_decoder(cfg)}
        for name, net in (('encoder', encoder), ('decoder', decoder)):
            averages[name].set_weights(net.get_weights())  # the average starts at the initial weights
    return Networks(encoder, decoder, discriminator, build_optimizers(cfg, (encoder, decoder, discriminator)), averages)


def update_averages(nets, decay, step):
    """average <- d * average + (1 - d) * weights after step `step` (from 1), for every weight of the encoder and decoder,
    their batch-norm statistics included (Keras' own use_ema averages only what its optimizer updates).
    d = min(decay, (1 + step) / (10 + step)), tf.train.ExponentialMovingAverage's num_updates rule: early
    in a run the average forgets the random initial weights fast (0.999 alone would still weigh them
    by 0.999^856 = 0.42 after MNIST's first 4 epochs)."""
    step = tf.cast(step, tf.float32)
    d = tf.minimum(decay, (1.0 + step) / (10.0 + step))
    for name, average in nets.averages.items():
        for kept, weight in zip(average.weights, nets[name].weights):
            kept.assign(d * kept + (1 - d) * tf.cast(weight, kept.dtype))


def build_optimizers(cfg, networks):
    """{network name: optimizer}, built so a checkpoint restores their slots: Adam with beta1 0.5 (the
    original) or DeepPy's RMSProp (the official code). With float16 each optimizer is wrapped in a
    LossScaleOptimizer."""
    optimizers = {}
    for net, lr in zip(networks, (cfg.lr_encoder, cfg.lr_decoder, cfg.lr_discriminator)):
        if cfg.optimizer == 'deeppy_rmsprop':
            optimizer = DeepPyRMSprop(lr, rho=0.9, epsilon=cfg.epsilon)
        else:
            optimizer = keras.optimizers.Adam(lr, beta_1=cfg.beta1, epsilon=cfg.epsilon)
        if cfg.mixed_precision == 'float16':  # bfloat16 has float32's exponent range: no scaling
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(net.trainable_variables)
        optimizers[net.name] = optimizer
    return optimizers


class DeepPyRMSprop(keras.optimizers.RMSprop):
    """RMSProp as DeepPy computes it [deeppy/train/learn_rules.py:42-54]: v = rho v + (1 - rho) g^2,
    w -= lr g / (sqrt(v) + epsilon), epsilon outside the root (Keras puts it inside). The same slots
    as Keras' RMSprop, so checkpoints move between the two."""

    def update_step(self, gradient, variable, learning_rate):
        lr = keras.ops.cast(learning_rate, variable.dtype)
        gradient = keras.ops.cast(gradient, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        self.assign(velocity, self.rho * velocity + (1 - self.rho) * keras.ops.square(gradient))
        self.assign_sub(variable, lr * gradient / (keras.ops.sqrt(velocity) + self.epsilon))


def unscaled(optimizer):
    """The optimizer under any loss scaling: the one a checkpoint holds (so runs can switch precision)
    and whose learning rate is set."""
    return getattr(optimizer, 'inner_optimizer', optimizer)


def learning_rates(cfg, epoch):
    """{network: learning rate} in epoch (from 1): constant; 'annealed' as the official GammaAnnealer:
    lr - ((epoch - 1) / epochs)^0.75 * (lr - lr_end), from lr in the first epoch towards lr_end; or
    'linear': lr for the first lr_decay_from * epochs epochs, then lr - (epoch - 1 - start) / (epochs - start)
    * (lr - lr_end), towards lr_end (CycleGAN's constant-then-linear policy)."""
    rates = {'encoder': cfg.lr_encoder, 'decoder': cfg.lr_decoder, 'discriminator': cfg.lr_discriminator}
    if cfg.lr_schedule == 'annealed':
        rates = {name: lr - ((epoch - 1) / cfg.epochs) ** 0.75 * (lr - cfg.lr_end) for name, lr in rates.items()}
    elif cfg.lr_schedule == 'linear':
        start = cfg.lr_decay_from * cfg.epochs
        done = max(0.0, epoch - 1 - start) / max(cfg.epochs - start, 1e-9)
        rates = {name: lr - min(done, 1.0) * (lr - cfg.lr_end) for name, lr in rates.items()}
    return rates


LATENT_HEADS = ('mean', 'sigma', 'logvar')  # the encoder's last layers [architectures.py:45-47, model/ae.py:69-74]


def gradients_with_l2(tape, loss, nets, name, kernel_l2=0.0):
    """Gradients of `loss` (plus kernel_l2 * the kernels' squared norm) with respect to network `name`'s
    weights, of the loss divided by the number of replicas (their sum over replicas is the gradient
    of the global batch's mean) and scaled by the optimizer's loss scale (1 without mixed precision)."""
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context else 1
    with tape:  # the tape records the penalty and the scaling too
        if kernel_l2:  # not the latent heads: the official NormalEncoder's plain filler has no decay
            loss += kernel_l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in nets[name].trainable_variables
                                          if v.path.endswith('kernel') and v.path.split('/')[0] not in LATENT_HEADS])
        scaled = nets.optimizers[name].scale_loss(loss / replicas)
    return tape.gradient(scaled, nets[name].trainable_variables)


class Learner:
    """What turns a network's loss into its weights changing, so the step shows only the method:

        scalars, grads = learn.gradients('discriminator', loss_fn)   # loss_fn() -> {'discriminator_loss': ...}
        learn.apply('discriminator', grads, allowed=update_d)        # update_d: the balance rule's verdict

    gradients() runs loss_fn under a tape and differentiates its f'{name}_loss' (gradients_with_l2: the
    L2 penalty, the replicas' share, the loss scale); with jit_compile XLA compiles that forward and
    backward pass, while apply() stays outside XLA. apply() steps the optimizer, or where `allowed` is
    false counts a skip (skip_counts() reads the counts), and on the steps due a histogram (every
    `every` steps, steps_done - 1 a multiple of it) also copies the gradients into `gradients`
    (gradient_copies) for histograms written outside the step."""

    def __init__(self, nets, kernel_l2, jit_compile, steps_done, gradients=None, every=0):
        self.nets, self.kernel_l2, self.jit_compile = nets, kernel_l2, jit_compile
        self.steps_done, self.copies, self.every = steps_done, gradients, every
        self.skipped = {name: tf.Variable(0, dtype=tf.int64, trainable=False) for name in ('discriminator', 'decoder')}

    def run(self, fn):
        """fn(): compiled by XLA with jit_compile (a fresh tf.function: traced once per trace of the step)."""
        return tf.function(fn, jit_compile=True)() if self.jit_compile else fn()

    def gradients(self, name, loss_fn):
        """(scalars, gradients): loss_fn()'s scalars and the gradients of their f'{name}_loss' with
        respect to network `name`'s weights."""
        def forward_and_backward():
            with tf.GradientTape() as tape:
                scalars = loss_fn()
            return scalars, gradients_with_l2(tape, scalars[f'{name}_loss'], self.nets, name, self.kernel_l2)
        return self.run(forward_and_backward)

    def apply(self, name, grads, allowed=None):
        """Steps network `name` along `grads`; where `allowed` (a boolean tensor; None: always) is false,
        counts a skip instead. Decided in the graph: no retracing when the verdict changes."""
        if self.copies:
            keep = lambda: tf.group([copy.assign(grad) for copy, grad in zip(self.copies[name], grads)])
            tf.cond((self.steps_done - 1) % self.every == 0, keep, tf.no_op)
        step = lambda: self.nets.optimizers[name].apply_gradients(zip(grads, self.nets[name].trainable_variables))
        step() if allowed is None else tf.cond(allowed, step, lambda: self.skipped[name].assign_add(1))

    def skip_counts(self):
        """{'discriminator_skips', 'decoder_skips'}: the balance rule's skips so far, as float scalars."""
        return {f'{name}_skips': tf.cast(count, tf.float32) for name, count in self.skipped.items()}


def gradient_copies(nets):
    """{network: one variable per trainable weight}: the last histogram step's gradients (Learner.apply)."""
    return {name: [tf.Variable(tf.zeros_like(v), trainable=False) for v in nets[name].trainable_variables]
            for name in ('discriminator', 'encoder', 'decoder')}


def make_strategy(cfg):
    """'default': one device; 'mirrored': all local GPUs (else all logical CPUs); 'multi_worker': the
    cluster in TF_CONFIG. Returns (strategy, is_chief): only the chief writes grids, logs and config."""
    if cfg.strategy == 'mirrored':
        devices = tf.config.list_logical_devices('GPU') or tf.config.list_logical_devices('CPU')
        return tf.distribute.MirroredStrategy([d.name for d in devices]), True
    if cfg.strategy == 'multi_worker':
        if 'TF_CONFIG' not in os.environ:
            raise UsageError("strategy='multi_worker' needs TF_CONFIG describing the cluster and this worker")
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        resolver = strategy.cluster_resolver
        return strategy, resolver.task_type in (None, 'chief') or (
            resolver.task_type == 'worker' and resolver.task_id == 0 and 'chief' not in resolver.cluster_spec().jobs)
    return tf.distribute.get_strategy(), True


def make_noise(seed, steps_done):
    """noise(shape, stream) -> N(0, I) rows for this replica's share of the global batch. The numbers
    depend only on (seed, step, stream, row of the global batch): the same on one device or several,
    with or without XLA, and a resumed run draws what an uninterrupted one would."""

    def noise(shape, stream):
        context = tf.distribute.get_replica_context()  # None outside the replicas: one device
        replicas, replica = (context.num_replicas_in_sync, context.replica_id_in_sync_group) if context else (1, 0)
        rows = shape[0]
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(steps_done, tf.int64) * 8 + stream])
        z = tf.random.stateless_normal(tf.stack([rows * replicas, shape[1]]), seed=key)
        return z[replica * rows:(replica + 1) * rows]

    return noise
