"""Train VAE/GAN (Larsen et al. 2016) as the original TensorFlow 1 repo does (PrateekMunjal/VAE_GAN):

    python vae_gan.py                                 # the preset config.PRESET (mnist)
    python vae_gan.py --preset=celeb_a --epochs=5     # any config.py field as --field=value
    TFDS_DATA_DIR=~/tensorflow_datasets python vae_gan.py   # offline, from a prepared tensorflow-datasets copy
    python vae_gan.py --benchmark_steps=40            # time the step and the input pipeline, write nothing

Top to bottom: the losses; one training step, phase by phase as the paper's Algorithm 1 (D, then E,
then G), and its one-pass form; the machinery under the step (noise, gradients, tf.distribute); then
training: build, restore, one epoch, end of epoch; and the benchmark. Writes to out_dir:
checkpoints/, logs/ (TensorBoard), op-real/, op-recons/, op-gen/ and config.json. Run the same command
again to resume from the latest checkpoint.
"""
import contextlib
import dataclasses
import functools
import itertools
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # before TensorFlow loads: no cuInit / grappler error lines

import keras
import tensorflow as tf

import checkpoints
import config
import data
import images
import models
from config import UsageError

UPDATE_ORDER = ('discriminator', 'encoder', 'decoder')  # the original's order within a step


# ---- Losses: small pure functions on D's logits ---------------------------------------------------
# The original takes log(D) of a sigmoid probability, which gives NaN/inf once D saturates. With
# log(sigmoid(l)) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l) the same losses stay finite.

def neg_log_d(logit, offset=0.0):
    """-log(D + offset) per example; offset 0: softplus(-logit), exact and finite where D saturates."""
    return tf.nn.softplus(-logit) if not offset else -tf.math.log(tf.sigmoid(logit) + offset)


def neg_log_not_d(logit, offset=0.0):
    """-log(1 - D + offset) per example; offset 0: softplus(logit)."""
    return tf.nn.softplus(logit) if not offset else -tf.math.log(tf.sigmoid(-logit) + offset)


def discriminator_loss(logit_x, logit_fakes, real_weight=None, offset=0.0):
    """L_D = -mean(log D(x)) - sum over the fakes of mean(log(1 - D(fake))): the original's
    -mean(log D(x) + log(1 - D(x~)) + log(1 - D(x_p))). With real_weight w (the official code's
    real_vs_gen_weight): w * real term + (1 - w) * fake terms; offset: the official log(D + 1e-3)."""
    real = tf.reduce_mean(neg_log_d(logit_x, offset))
    fake = tf.add_n([tf.reduce_mean(neg_log_not_d(logit, offset)) for logit in logit_fakes])
    return real + fake if real_weight is None else real_weight * real + (1 - real_weight) * fake


def decoder_gan_loss(logit_fakes, form='non_saturating', offset=0.0):
    """G's GAN term over its fakes: 'non_saturating' sum of mean(-log D(fake)) (the original);
    'saturating' sum of mean(log(1 - D(fake))) (the official code: G minimises what D maximises)."""
    if form == 'saturating':
        return -tf.add_n([tf.reduce_mean(neg_log_not_d(logit, offset)) for logit in logit_fakes])
    return tf.add_n([tf.reduce_mean(neg_log_d(logit, offset)) for logit in logit_fakes])


def dis_l_loss(dis_l_x_tilde, dis_l_x, likelihood='mean'):
    """The learned similarity. 'mean': mean((Dis_l(x~) - Dis_l(x))^2) over batch and features (the
    original's L_llike); 'gaussian': -log N(Dis_l(x~); Dis_l(x), I) up to a constant, i.e. half the
    squared error summed over features, averaged over the batch (the official code)."""
    squared = tf.square(tf.cast(dis_l_x_tilde, tf.float32) - tf.cast(dis_l_x, tf.float32))
    if likelihood == 'gaussian':
        return tf.reduce_mean(0.5 * tf.reduce_sum(tf.reshape(squared, [tf.shape(squared)[0], -1]), axis=1))
    return tf.reduce_mean(squared)


def kl_loss(mean, sigma):
    """Batch mean of KL(N(mean, diag(sigma^2)) || N(0, I)), summed over latent dims, in closed form."""
    kl = 0.5 * (tf.square(mean) + tf.square(sigma) - 1.0) - tf.math.log(sigma)
    return tf.reduce_mean(tf.reduce_sum(kl, axis=1))


def kl_weight(setting, epoch, batch_size, z_dim):
    """'1/z_dim' (MNIST/vae-gan.py line 189), '1/batch' (Celeb-A/vae-gan.py, and the original README:
    "almost always works"), 'sigmoid': sigmoid(epoch/3 - 5) with epoch counted from 0 (the original's
    commented-out schedule: 0.007 at first, saturating at 1), or a number."""
    setting = config.parse_kl_weight(setting)
    if setting == '1/batch':
        return 1.0 / tf.cast(batch_size, tf.float32)
    if setting == '1/z_dim':
        return tf.constant(1.0 / z_dim, tf.float32)
    if setting == 'sigmoid':
        return tf.sigmoid(tf.cast(epoch, tf.float32) / 3.0 - 5.0)
    return tf.constant(setting, tf.float32)


def balance(real_cost, fake_cost, equilibrium, margin):
    """The official code's equilibrium rule (model/aegan.py, not in the paper): (update D, update G).
    real_cost = mean(-log D(x)), fake_cost = mean(-log(1 - D(x_p))). D is skipped while it wins
    (either cost below equilibrium - margin), G while it loses (either above equilibrium + margin);
    both update if both would be skipped."""
    update_d = tf.logical_not((real_cost < equilibrium - margin) | (fake_cost < equilibrium - margin))
    update_g = tf.logical_not((real_cost > equilibrium + margin) | (fake_cost > equilibrium + margin))
    neither = tf.logical_not(update_d | update_g)
    return update_d | neither, update_g | neither


# ---- Each network's objective, from one forward pass's outputs ------------------------------------

def discriminator_objective(cfg, logit_x, logit_x_p, logit_x_tilde=None):
    """{'discriminator_loss': L_D, ...metrics}. The fakes D judges: reconstructions x~ and prior
    samples x_p (the original), or x_p alone with discriminate_recon off (the official code)."""
    fakes = [logit_x_tilde, logit_x_p] if cfg.discriminate_recon else [logit_x_p]
    offset = cfg.gan_log_offset
    metrics = {'discriminator_loss': discriminator_loss(logit_x, fakes, cfg.real_vs_gen_weight, offset),
               'real_cost': tf.reduce_mean(neg_log_d(logit_x, offset)),  # -log D(x), the balance rule's input
               'fake_cost': tf.reduce_mean(neg_log_not_d(logit_x_p, offset)),  # -log(1 - D(x_p))
               'd_x': tf.reduce_mean(tf.sigmoid(logit_x)), 'd_x_p': tf.reduce_mean(tf.sigmoid(logit_x_p))}
    if logit_x_tilde is not None:
        metrics['d_x_tilde'] = tf.reduce_mean(tf.sigmoid(logit_x_tilde))
    return metrics


def encoder_objective(cfg, mean, sigma, dis_l_x, dis_l_x_tilde, beta):
    """{'encoder_loss': beta * KL + gamma_enc * Dis_l, ...}: the prior plus the learned similarity."""
    kl = kl_loss(mean, sigma)
    loss = beta * kl + cfg.gamma_enc * dis_l_loss(dis_l_x_tilde, dis_l_x, cfg.dis_l_likelihood)
    return {'encoder_loss': loss, 'kl': kl, 'kl_weight': beta}


def decoder_objective(cfg, dis_l_x, dis_l_x_tilde, logit_x_tilde, logit_x_p):
    """{'decoder_loss': ..., 'dis_l', 'gan'}: the learned similarity plus fooling D with x~ (unless
    discriminate_recon is off) and x_p. gamma_dec * Dis_l + GAN (the original), or with
    recon_vs_gan_weight w: w * Dis_l + (1 - w) * GAN (the official code)."""
    dis_l = dis_l_loss(dis_l_x_tilde, dis_l_x, cfg.dis_l_likelihood)
    gan = decoder_gan_loss([logit_x_tilde, logit_x_p] if cfg.discriminate_recon else [logit_x_p], cfg.gan_loss,
                           cfg.gan_log_offset)
    w = cfg.recon_vs_gan_weight
    loss = cfg.gamma_dec * dis_l + gan if w is None else w * dis_l + (1 - w) * gan
    return {'decoder_loss': loss, 'dis_l': dis_l, 'gan': gan}


# ---- One training step: the paper's Algorithm 1 ---------------------------------------------------
# Each phase runs a fresh forward pass with the weights as they are now (so E sees the D just
# updated, G the new D and E) and returns (metrics, gradients of its own network's loss). `noise`
# draws N(0, I): streams 0-4 keep each draw of a step apart.

def encode_decode(nets, x, noise, stream):
    """(mean, sigma, x~): E's q(z|x), a z drawn from it, and G(z)."""
    mean, sigma = nets.encoder(x, training=True)
    z = mean + sigma * noise(tf.shape(sigma), stream)  # the reparameterisation trick
    return mean, sigma, nets.decoder(z, training=True)


def prior_sample(cfg, nets, x, noise, stream):
    """x_p = G(z_p), z_p ~ N(0, I): one per row of x."""
    return nets.decoder(noise([tf.shape(x)[0], cfg.z_dim], stream), training=True)


def discriminator_phase(cfg, nets, x, noise):
    """D: tell real x from prior samples x_p and (with discriminate_recon) reconstructions x~."""
    with tf.GradientTape() as tape:
        x_tilde = encode_decode(nets, x, noise, stream=0)[2] if cfg.discriminate_recon else None
        x_p = prior_sample(cfg, nets, x, noise, stream=1)
        _, logit_x = nets.discriminator(x, training=True)
        _, logit_x_p = nets.discriminator(x_p, training=True)
        logit_x_tilde = None if x_tilde is None else nets.discriminator(x_tilde, training=True)[1]
        metrics = discriminator_objective(cfg, logit_x, logit_x_p, logit_x_tilde)
    return metrics, scaled_gradients(tape, metrics['discriminator_loss'], nets, 'discriminator', cfg.kernel_l2)


def encoder_phase(cfg, nets, x, beta, noise):
    """E: the KL to the prior (weighted by beta) plus the learned similarity in D's feature space."""
    with tf.GradientTape() as tape:
        mean, sigma, x_tilde = encode_decode(nets, x, noise, stream=2)
        dis_l_x, _ = nets.discriminator(x, training=True)
        dis_l_x_tilde, _ = nets.discriminator(x_tilde, training=True)
        metrics = encoder_objective(cfg, mean, sigma, dis_l_x, dis_l_x_tilde, beta)
    return metrics, scaled_gradients(tape, metrics['encoder_loss'], nets, 'encoder', cfg.kernel_l2)


def decoder_phase(cfg, nets, x, noise):
    """G: the learned similarity plus fooling D with x~ and x_p."""
    with tf.GradientTape() as tape:
        _, _, x_tilde = encode_decode(nets, x, noise, stream=3)
        x_p = prior_sample(cfg, nets, x, noise, stream=4)
        dis_l_x, _ = nets.discriminator(x, training=True)
        _, logit_x_p = nets.discriminator(x_p, training=True)
        dis_l_x_tilde, logit_x_tilde = nets.discriminator(x_tilde, training=True)
        metrics = decoder_objective(cfg, dis_l_x, dis_l_x_tilde, logit_x_tilde, logit_x_p)
    return metrics, scaled_gradients(tape, metrics['decoder_loss'], nets, 'decoder', cfg.kernel_l2)


def one_pass(cfg, nets, x, beta, noise):
    """update='simultaneous': all three objectives from one forward pass, so E and G see the D of
    before this step's update (as the PyTorch ports, and the official code). With concat_batches, as
    the official step: D runs once on [x, x_p] and Dis_l once on [x~, x], reals and fakes sharing
    batch-norm statistics. Returns (metrics, {network: gradients})."""
    with tf.GradientTape(persistent=True) as tape:
        mean, sigma, x_tilde = encode_decode(nets, x, noise, stream=0)
        x_p = prior_sample(cfg, nets, x, noise, stream=1)
        if cfg.concat_batches:
            n = tf.shape(x)[0]
            _, logits = nets.discriminator(tf.concat([x, x_p], 0), training=True)  # D's judgement
            features, logits_tilde = nets.discriminator(tf.concat([x_tilde, x], 0), training=True)  # Dis_l
            logit_x, logit_x_p, logit_x_tilde = logits[:n], logits[n:], logits_tilde[:n]
            dis_l_x_tilde, dis_l_x = features[:n], features[n:]
        else:
            dis_l_x, logit_x = nets.discriminator(x, training=True)
            _, logit_x_p = nets.discriminator(x_p, training=True)
            dis_l_x_tilde, logit_x_tilde = nets.discriminator(x_tilde, training=True)
        metrics = {**discriminator_objective(cfg, logit_x, logit_x_p, logit_x_tilde),
                   **encoder_objective(cfg, mean, sigma, dis_l_x, dis_l_x_tilde, beta),
                   **decoder_objective(cfg, dis_l_x, dis_l_x_tilde, logit_x_tilde, logit_x_p)}
    return metrics, {name: scaled_gradients(tape, metrics[f'{name}_loss'], nets, name, cfg.kernel_l2)
                     for name in UPDATE_ORDER}


def make_train_step(cfg, nets, steps_done, nonfinite_step):
    """train_step(x, epoch) -> dict of scalars: one D update, then one E update, then one G update
    (update='sequential', the original), or all three from one pass ('simultaneous'). x is a batch,
    or with cfg.fresh_batches a tuple of three, one per network (per replica under a strategy). Each
    call adds 1 to `steps_done`; the first step whose losses are not finite goes to `nonfinite_step`.
    The balance rule, when on, decides from the pass of D's loss whether D and G update."""
    strategy = tf.distribute.get_strategy()
    noise = make_noise(cfg.seed, steps_done)
    # XLA compiles the forward and backward passes; the updates stay outside.
    compiled = (lambda fn: tf.function(fn, jit_compile=True)) if cfg.jit_compile else (lambda fn: fn)
    d_phase, e_phase, g_phase, together = (compiled(functools.partial(phase, cfg, nets, noise=noise)) for phase in
                                           (discriminator_phase, encoder_phase, decoder_phase, one_pass))
    skipped = {name: tf.Variable(0, dtype=tf.int64, trainable=False) for name in ('discriminator', 'decoder')}

    def apply(name, grads, update=None):
        """Applies grads; with the balance rule only where `update` holds, else counts a skip."""
        step = lambda: nets.optimizers[name].apply_gradients(zip(grads, nets[name].trainable_variables))
        step() if update is None else tf.cond(update, step, lambda: skipped[name].assign_add(1))

    def skip_counts():  # read after this step's updates
        return {f'{name}_skips': tf.cast(count, tf.float32) for name, count in skipped.items()}

    def decide(metrics):
        """(update D, update G): the balance rule's, or (None, None): both always update."""
        if cfg.balance_margin is None:
            return None, None
        return balance(metrics['real_cost'], metrics['fake_cost'], cfg.equilibrium, cfg.balance_margin)

    def replica_step(x, epoch):
        x_d, x_e, x_g = split_batches(cfg, x)
        beta = kl_weight(cfg.kl_weight, epoch, tf.shape(x_e)[0] * strategy.num_replicas_in_sync, cfg.z_dim)
        if cfg.update == 'simultaneous':
            metrics, grads = together(x_d, beta)
            update_d, update_g = decide(metrics)
            for name, update in zip(UPDATE_ORDER, (update_d, None, update_g)):
                apply(name, grads[name], update)
            return {**metrics, **skip_counts()}
        metrics_d, grads = d_phase(x_d)
        update_d, update_g = decide(metrics_d)  # on D's pass, before any update of this step
        apply('discriminator', grads, update_d)
        metrics_e, grads = e_phase(x_e, beta)
        apply('encoder', grads)  # the encoder always updates
        metrics_g, grads = g_phase(x_g)
        apply('decoder', grads, update_g)
        return {**metrics_d, **metrics_e, **metrics_g, **skip_counts()}

    @tf.function
    def train_step(x, epoch):
        step = steps_done.assign_add(1)  # this step's number, counted from 1 (optimizers may skip steps)
        per_replica = strategy.run(replica_step, args=(x, epoch))
        metrics = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}
        losses = tf.stack([metrics['discriminator_loss'], metrics['encoder_loss'], metrics['decoder_loss']])
        finite = tf.reduce_all(tf.math.is_finite(losses))
        nonfinite_step.assign(tf.where(finite | (nonfinite_step >= 0), nonfinite_step, step))
        return metrics

    return train_step


# ---- Under the step: the networks, their optimizers, noise, gradients, tf.distribute --------------

@dataclasses.dataclass
class Networks:
    """The three networks and one optimizer each, keyed by network name: nets['decoder'],
    nets.optimizers['decoder']."""
    encoder: keras.Model
    decoder: keras.Model
    discriminator: keras.Model
    optimizers: dict

    def __getitem__(self, name):
        return getattr(self, name)


def build_networks(cfg):
    """E, G and D with an optimizer each, built so a checkpoint restores their slots: Adam with beta1
    0.5 (the original) or RMSProp (the official code). With float16 each optimizer is wrapped in a
    LossScaleOptimizer."""
    encoder, decoder, discriminator = (models.build_encoder(cfg), models.build_decoder(cfg),
                                       models.build_discriminator(cfg))
    optimizers = {}
    for net, lr in ((encoder, cfg.lr_encoder), (decoder, cfg.lr_decoder), (discriminator, cfg.lr_discriminator)):
        decay = cfg.weight_decay or None
        if cfg.optimizer == 'deeppy_rmsprop':
            optimizer = DeepPyRMSprop(lr, rho=0.9, epsilon=cfg.epsilon, weight_decay=decay)
        elif cfg.optimizer == 'rmsprop':
            optimizer = keras.optimizers.RMSprop(lr, rho=0.9, epsilon=cfg.epsilon, weight_decay=decay)
        else:
            optimizer = keras.optimizers.Adam(lr, beta_1=cfg.beta1, epsilon=cfg.epsilon, weight_decay=decay)
        if cfg.mixed_precision == 'float16':  # bfloat16 has float32's exponent range: no scaling
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(net.trainable_variables)
        optimizers[net.name] = optimizer
    return Networks(encoder, decoder, discriminator, optimizers)


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
    """{network: learning rate} in the epoch counted from 0: constant, or 'annealed' as the official
    GammaAnnealer: lr - (epoch / epochs)^0.75 * (lr - lr_end), from lr down to lr_end."""
    rates = {'encoder': cfg.lr_encoder, 'decoder': cfg.lr_decoder, 'discriminator': cfg.lr_discriminator}
    if cfg.lr_schedule == 'annealed':
        rates = {name: lr - (epoch / cfg.epochs) ** 0.75 * (lr - cfg.lr_end) for name, lr in rates.items()}
    return rates


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


def scaled_gradients(tape, loss, nets, name, kernel_l2=0.0):
    """Gradients of `loss` (plus kernel_l2 * the kernels' squared norm) with respect to network `name`'s
    weights, of the loss divided by the number of replicas (their sum over replicas is the gradient
    of the global batch's mean) and scaled by the optimizer's loss scale (1 without mixed precision)."""
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context else 1
    with tape:  # the tape records the penalty and the scaling too
        if kernel_l2:
            loss += kernel_l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in nets[name].trainable_variables
                                          if v.path.endswith('kernel')])
        scaled = nets.optimizers[name].scale_loss(loss / replicas)
    return tape.gradient(scaled, nets[name].trainable_variables)


def split_batches(cfg, x):
    """(x_d, x_e, x_g): CelebA gives each network a fresh batch, MNIST the same one (the original)."""
    return tuple(x) if cfg.fresh_batches else (x, x, x)


def make_histogram_writer(cfg, nets, steps_done):
    """write_histograms(x, epoch, step): the original's weight and gradient histograms, for the current
    weights and one replica's batch, kept out of the training step (summary ops slow its tracing and
    block XLA). Their noise has a seed of its own, so the weights train the same with or without them
    (batch norm's moving averages, used only for images, see one batch more)."""
    noise = make_noise(cfg.seed + 1, steps_done)

    @tf.function
    def write_histograms(x, epoch, step):
        x_d, x_e, x_g = split_batches(cfg, x)
        beta = kl_weight(cfg.kl_weight, epoch, tf.shape(x_e)[0], cfg.z_dim)
        for name, (_, grads) in (('discriminator', discriminator_phase(cfg, nets, x_d, noise)),
                                 ('encoder', encoder_phase(cfg, nets, x_e, beta, noise)),
                                 ('decoder', decoder_phase(cfg, nets, x_g, noise))):
            for var, grad in zip(nets[name].trainable_variables, grads):
                tf.summary.histogram(f'{name}/{var.path}', var, step=step)
                tf.summary.histogram(f'{name}/{var.path}/gradient', grad, step=step)

    return write_histograms


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


# ---- Training: build, restore, one epoch, end of epoch --------------------------------------------

@dataclasses.dataclass
class Run:
    """What a training run holds between its phases."""
    strategy: tf.distribute.Strategy
    is_chief: bool  # only the chief writes grids, logs, config.json and the kept checkpoints
    nets: Networks
    train_step: object  # make_train_step's tf.function
    write_histograms: object  # make_histogram_writer's tf.function
    resumable: object  # make_resumable_check's tf.function
    checkpoint: tf.train.Checkpoint
    save_dir: str  # the chief's out_dir/checkpoints; a worker's temporary folder
    epochs_done: tf.Variable
    steps_done: tf.Variable
    nonfinite_step: tf.Variable  # -1 while every loss is finite
    sample_z: tf.Variable  # the op-gen/ grids' latent, fixed for the whole run
    skips: dict = dataclasses.field(default_factory=dict)  # balance-rule skips counted at the last epoch's end


def build(cfg):
    """The strategy, the networks and optimizers, the counters, the step and the checkpoint. Reads
    and writes nothing in out_dir."""
    strategy, is_chief = make_strategy(cfg)  # first: MultiWorkerMirroredStrategy must precede other ops
    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy(config.PRECISIONS[cfg.mixed_precision])
    grid_z = models.prior_z(images.GRID, cfg.z_dim, cfg.seed).numpy()  # drawn outside the scope: no mirroring
    with strategy.scope():
        nets = build_networks(cfg)
        sample_z = tf.Variable(grid_z, trainable=False)
        epochs_done, steps_done, nonfinite_step = (tf.Variable(value, dtype=tf.int64, trainable=False)
                                                   for value in (0, 0, -1))
        train_step = make_train_step(cfg, nets, steps_done, nonfinite_step)
    checkpoint = tf.train.Checkpoint(
        encoder=nets.encoder, decoder=nets.decoder, discriminator=nets.discriminator,
        **{f'{name}_optimizer': unscaled(nets.optimizers[name]) for name in UPDATE_ORDER},
        epoch=epochs_done, step=steps_done, sample_z=sample_z)
    # Every worker saves (saving is collective); all but the chief into a folder deleted afterwards.
    save_dir = checkpoints.folder(cfg.out_dir) if is_chief else tempfile.mkdtemp(prefix='vae_gan_worker_')
    return Run(strategy, is_chief, nets, train_step, make_histogram_writer(cfg, nets, steps_done),
               make_resumable_check(nets, sample_z), checkpoint, save_dir, epochs_done, steps_done, nonfinite_step,
               sample_z)


def make_resumable_check(nets, sample_z):
    """resumable(x) -> whether the current state is worth saving: every weight finite, and finite losses
    on a forward pass of x and of as many grid codes (batch norm in inference mode, nothing updated).
    Weights of 1e30 after a learning rate exploded are finite, but their losses are not."""
    @tf.function
    def resumable(x):
        finite = [tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32)))
                  for name in UPDATE_ORDER for v in nets[name].weights]
        mean, sigma = nets.encoder(x, training=False)
        dis_l_x, logit_x = nets.discriminator(x, training=False)
        dis_l_x_tilde, logit_x_tilde = nets.discriminator(nets.decoder(mean, training=False), training=False)
        _, logit_x_p = nets.discriminator(nets.decoder(sample_z[:tf.shape(x)[0]], training=False), training=False)
        losses = [discriminator_loss(logit_x, [logit_x_tilde, logit_x_p]), kl_loss(mean, sigma),
                  dis_l_loss(dis_l_x_tilde, dis_l_x), decoder_gan_loss([logit_x_tilde, logit_x_p])]
        return tf.reduce_all(finite + [tf.math.is_finite(loss) for loss in losses])

    return resumable


@contextlib.contextmanager
def hold(cfg, run):
    """The chief holds out_dir's lock while training (one run per out_dir) and clears what interrupted
    saves left. Whatever ends the run, the lock is released; an out_dir this run made and left empty
    (it failed before writing anything) is removed, as are a worker's temporary checkpoints."""
    if os.path.exists(cfg.out_dir) and not os.path.isdir(cfg.out_dir):
        raise UsageError(f'out_dir {cfg.out_dir} is a file: pass a folder, new or of an earlier run')
    made = []  # the folders this run creates, innermost first
    path = os.path.abspath(cfg.out_dir)
    while not os.path.exists(path):
        made.append(path)
        path = os.path.dirname(path)
    lock = checkpoints.Lock(cfg.out_dir)
    try:
        if run.is_chief:
            try:
                os.makedirs(cfg.out_dir, exist_ok=True)
                lock.acquire()
            except OSError as e:
                raise UsageError(f'cannot write to {cfg.out_dir} ({e.strerror or e}): pass a writable --out_dir') from e
            for name in checkpoints.clean_interrupted_saves(checkpoints.folder(cfg.out_dir)):
                print(f'note: removed {name}, left by an interrupted save')
        yield
    finally:
        lock.release()
        for folder in made:
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
        if not run.is_chief:
            shutil.rmtree(run.save_dir, ignore_errors=True)


def restore(cfg, run):
    """Goes on from the newest intact checkpoint in out_dir, if any; returns the first epoch to train.
    Newer damaged ones are renamed ckpt-N-damaged.* and named; if every one is damaged, it refuses."""
    saved_path = os.path.join(cfg.out_dir, 'config.json')
    if os.path.exists(saved_path):
        config.check_same_model(cfg.out_dir, config.from_saved(saved_path),
                                {field: getattr(cfg, field) for field in config.ARCH_FIELDS})
    latest, damaged = checkpoints.newest_intact(checkpoints.folder(cfg.out_dir))
    if damaged and not latest:
        raise UsageError(f'no intact checkpoint in {checkpoints.folder(cfg.out_dir)}: '
                         + ', '.join(f'{os.path.basename(p)} ({why})' for p, why in damaged)
                         + '; move that folder away to start over')
    for prefix, why in damaged:
        kept = checkpoints.set_aside(prefix) if run.is_chief else prefix
        print(f'{os.path.basename(prefix)} is damaged ({why}): kept as {kept}.*, resuming from {latest}')
    if not latest:
        return 1
    checkpoints.restore(run.checkpoint, latest, 'pass another --out_dir, or the config it was trained with')
    print(f'resuming from {latest}: {int(run.epochs_done.numpy())} epochs done')
    return int(run.epochs_done.numpy()) + 1


def train(cfg):
    """Trains cfg's run into out_dir, going on from its newest intact checkpoint."""
    run = build(cfg)
    with hold(cfg, run):
        first = restore(cfg, run)
        if first > cfg.epochs:
            print(f'{cfg.out_dir} already holds {first - 1} epochs; nothing to do (raise --epochs to go on)')
            return

        # Data: a resumed run gets a shuffle order of its own, still fixed by the seed.
        train_ds, steps = data.train_dataset(cfg, seed=cfg.seed + first - 1)
        held_out = next(iter(data.held_out_dataset(cfg, images.GRID)), None)  # the same originals in every grid
        if held_out is None:
            raise UsageError(f'no readable held-out images ({cfg.held_out_split} split): the grids need some')
        batches = iter(run.strategy.experimental_distribute_dataset(train_ds))
        first_batch = next(batches, None)
        if first_batch is None:  # every image was skipped, each named in a warning above
            raise UsageError(f'no usable training images in {cfg.data_dir or cfg.dataset}: see the warnings above')
        batches = itertools.chain([first_batch], batches)

        # Outputs: only now, once nothing can fail on bad input, is out_dir written (by the chief only).
        if run.is_chief:
            for sub in ('op-real', 'op-recons', 'op-gen'):
                os.makedirs(os.path.join(cfg.out_dir, sub), exist_ok=True)
            with open(os.path.join(cfg.out_dir, 'config.json'), 'w') as f:
                json.dump(dataclasses.asdict(cfg), f, indent=2)
        writer = (tf.summary.create_file_writer(os.path.join(cfg.out_dir, 'logs')) if run.is_chief
                  else tf.summary.create_noop_writer())
        print(f'training {cfg.preset} epochs {first}..{cfg.epochs}, {steps} steps of {cfg.batch_size} images'
              f'{" per network" if cfg.fresh_batches else ""} each, into {cfg.out_dir}')

        # Loop: an epoch of steps (logging as it goes), then samples, scores and a checkpoint.
        with writer.as_default():
            for epoch in range(first, cfg.epochs + 1):
                values, seconds = train_epoch(cfg, run, batches, steps, epoch)
                end_epoch(cfg, run, epoch, values, seconds, steps, held_out)
                writer.flush()


SHOWN = ('discriminator_loss', 'encoder_loss', 'decoder_loss', 'kl_weight')  # on the progress bar


def train_epoch(cfg, run, batches, steps, epoch):
    """One epoch of steps: TensorBoard scalars and the progress bar every log_every steps, histograms
    every histogram_every. Returns (the last logged values, seconds from the end of the first step)."""
    for name, lr in learning_rates(cfg, epoch - 1).items():
        unscaled(run.nets.optimizers[name]).learning_rate = lr
    # Histograms on one device only: their gradients are computed outside tf.distribute's replicas.
    histogram_every = cfg.histogram_every if run.strategy.num_replicas_in_sync == 1 and run.is_chief else 0
    # a live bar on a terminal; in a log file the epoch's summary line says it all
    bar = keras.utils.Progbar(steps, stateful_metrics=SHOWN, verbose=1 if sys.stdout.isatty() else 0)
    epoch_index = tf.constant(epoch - 1, tf.float32)  # the sigmoid schedule counts from 0
    step = int(run.steps_done.numpy())  # over all runs of out_dir
    for i in range(1, steps + 1):
        x = next(batches)
        if histogram_every and step % histogram_every == 0:
            run.write_histograms(x, epoch_index, tf.constant(step, tf.int64))
        scalars = run.train_step(x, epoch_index)
        step += 1
        if i == 1:  # time from here: the first step of a run also traces the graph
            start = time.perf_counter()
        if i % cfg.log_every and i < steps:
            bar.update(i)
            continue
        values = {name: float(value) for name, value in scalars.items()}
        for name, value in values.items():
            tf.summary.scalar(name, value, step=step)
        bad = int(run.nonfinite_step.numpy())
        if bad >= 0:
            sys.exit(f'error: a loss became non-finite at step {bad} (epoch {epoch}): stopping; the last good '
                     f'checkpoint stays in {checkpoints.folder(cfg.out_dir)}. Try a lower learning rate.')
        bar.update(i, [(name, values[name]) for name in SHOWN])
    return values, time.perf_counter() - start


def end_epoch(cfg, run, epoch, values, seconds, steps, held_out):
    """The epoch's line, the sample grids, the scores and the checkpoint, each when it is due."""
    # images/s counts batch_size images per step, as the PyTorch peer does (with fresh_batches a step
    # reads three batches, one per network)
    images_per_second = (steps - 1) * cfg.batch_size / seconds if steps > 1 else float('nan')
    tf.summary.scalar('images_per_second', images_per_second, step=int(run.steps_done.numpy()))
    print(f'epoch {epoch}/{cfg.epochs}: {seconds:.1f} s, {images_per_second:.0f} images/s, '
          + ', '.join(f'{name} {values[name]:.4g}' for name in SHOWN))
    if cfg.balance_margin is not None:  # the *_skips metrics count this run's skipped updates
        counts = {name: values[f'{name}_skips'] for name in ('discriminator', 'decoder')}
        print('  balance: skipped ' + ', '.join(f'{name} {(n - run.skips.get(name, 0)) / steps:.0%}'
                                                for name, n in counts.items()) + f' of {steps} steps')
        run.skips = counts
    run.epochs_done.assign(epoch)
    if run.is_chief and (epoch == 1 or epoch % cfg.sample_every == 0 or epoch == cfg.epochs):
        save_samples(cfg, run.nets, held_out, run.sample_z, epoch)
    if run.is_chief and cfg.eval_every and epoch % cfg.eval_every == 0:
        import metrics  # imported when used: it loads a feature network
        scores = metrics.evaluate(cfg, run.nets.encoder, run.nets.decoder, cfg.eval_samples, seed=cfg.seed)
        step = int(run.steps_done.numpy())
        for name in ('mse', 'ssim'):
            tf.summary.scalar(f'eval/{name}', scores[name], step=step)
        for space, figures in scores['features'].items():  # eval/classifier/fid, ...
            for name, value in figures.items():
                tf.summary.scalar(f'eval/{space}/{name}', value, step=step)
    if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
        if not bool(run.resumable(held_out)):  # never save a state that cannot go on
            kept = checkpoints.latest(run.save_dir) if run.is_chief else None
            sys.exit(f'error: after epoch {epoch} (step {int(run.steps_done.numpy())}) the weights, or the losses '
                     f'they give, are not finite: not saved; the run stays at {kept or "its start (no checkpoint)"}. '
                     f'Try a lower learning rate.')
        if run.is_chief:
            checkpoints.save(run.checkpoint, run.save_dir, epoch)
        else:
            run.checkpoint.write(os.path.join(run.save_dir, f'ckpt-{epoch}'))


def save_samples(cfg, nets, held_out, sample_z, epoch):
    """The original's grids: held-out originals, their reconstructions, prior samples."""
    to_uint8 = lambda x: data.to_uint8(cfg, x).numpy()
    name = f'epoch_{epoch:04d}.png'
    images.save_grid(to_uint8(held_out), os.path.join(cfg.out_dir, 'op-real', name), f'originals, epoch {epoch}')
    images.save_grid(to_uint8(models.reconstruct(nets.encoder, nets.decoder, held_out)),
                     os.path.join(cfg.out_dir, 'op-recons', name), f'reconstructions, epoch {epoch}')
    generations = to_uint8(nets.decoder(sample_z, training=False))
    images.save_grid(generations, os.path.join(cfg.out_dir, 'op-gen', name), f'epoch {epoch}')
    tf.summary.image('generations', generations[:9], step=epoch, max_outputs=9)


# ---- The benchmark: --benchmark_steps=N -----------------------------------------------------------

def benchmark(cfg, warmup=3):
    """Prints images/s of the whole step on the real pipeline (batch_size images per step, as the
    PyTorch peer counts), of the pipeline alone, and the step's split between D, E and G (each phase
    compiled and timed alone, on one device), on fresh weights. Reads and writes nothing in out_dir.
    Returns the seconds per step of each."""
    run = build(cfg)
    train_ds, _ = data.train_dataset(cfg, seed=cfg.seed)
    n = cfg.benchmark_steps
    epoch = tf.constant(0.0)
    batches = iter(run.strategy.experimental_distribute_dataset(train_ds))

    def timed(fn):
        for _ in range(warmup):
            result = fn()
        start = time.perf_counter()
        for _ in range(n):
            result = fn()
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, 'numpy') else t, result)  # wait for the last
        return (time.perf_counter() - start) / n

    pipeline = timed(lambda: next(batches))
    step = timed(lambda: run.train_step(next(batches), epoch))
    x_d, x_e, x_g = split_batches(cfg, next(iter(train_ds)))
    beta = kl_weight(cfg.kl_weight, epoch, cfg.batch_size, cfg.z_dim)
    noise = make_noise(cfg.seed, run.steps_done)
    phases = {}
    for name, phase, args in (('discriminator', discriminator_phase, (x_d,)), ('encoder', encoder_phase, (x_e, beta)),
                              ('decoder', decoder_phase, (x_g,))):
        @tf.function(jit_compile=cfg.jit_compile)
        def update(*args, name=name, phase=phase):
            metrics, grads = phase(cfg, run.nets, *args, noise=noise)
            run.nets.optimizers[name].apply_gradients(zip(grads, run.nets[name].trainable_variables))
            return metrics
        phases[name] = timed(lambda: update(*args))
    total = sum(phases.values())
    per_element = cfg.batch_size * (3 if cfg.fresh_batches else 1)  # images the pipeline makes per step
    print(f'benchmark {cfg.preset}, batch {cfg.batch_size}, {config.PRECISIONS[cfg.mixed_precision]}, '
          f'{n} steps after {warmup} of warm-up:')
    print(f'  step:     {cfg.batch_size / step:9.1f} images/s ({step * 1000:.1f} ms/step)')
    print(f'  pipeline: {per_element / pipeline:9.1f} images/s ({step / pipeline:.1f}x what the step consumes)')
    print('  split:    ' + ', '.join(f'{name} {t / total:.0%}' for name, t in phases.items())
          + (' (of the sequential step; this one shares one pass)' if cfg.update == 'simultaneous' else ''))
    return {'step_seconds': step, 'pipeline_seconds': pipeline, **{f'{k}_seconds': v for k, v in phases.items()}}


def interrupt(signum, frame):
    raise KeyboardInterrupt(signum)


def main(argv):
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, kill: one line, the lock released
        signal.signal(signum, interrupt)
    cfg = None
    try:
        overrides = config.parse_overrides(argv)
        if overrides.get('benchmark_steps'):
            return benchmark(config.from_args(argv))
        cfg, changes = config.for_run(overrides)  # a run in out_dir goes on with its own settings
        if changes:
            print(changes)
        train(cfg)
    except UsageError as e:
        sys.exit(f'error: {e}')
    except OSError as e:  # a full disk, a folder gone
        folder = checkpoints.folder(cfg.out_dir) if cfg else 'out_dir'
        sys.exit(f'error: writing failed ({e}): the checkpoints saved before stay in {folder}; '
                 f'fix that and run the same command again')
    except KeyboardInterrupt as e:
        held = checkpoints.latest(checkpoints.folder(cfg.out_dir)) if cfg else None
        where = (f'{held} holds the run ({checkpoints.epoch_of(held)} epochs)' if held
                 else 'no checkpoint was saved yet')
        print(f'\nstopped: {where}; go on with: python vae_gan.py {shlex.join(argv)}'.rstrip(), file=sys.stderr)
        sys.exit(128 + (e.args[0] if e.args else signal.SIGINT))


if __name__ == '__main__':
    main(sys.argv[1:])
