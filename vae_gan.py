"""Train VAE/GAN (Larsen et al. 2016) as the original TensorFlow 1 repo does (../shared/seed/ORIGINAL.md):

    python vae_gan.py                                 # the preset config.DATASET (mnist)
    python vae_gan.py --dataset=celeb_a --epochs=5    # any config.py field as --field=value
    TFDS_DATA_DIR=../shared/tfds python vae_gan.py    # offline, from a prepared tensorflow-datasets copy
    python vae_gan.py --benchmark_steps=40            # time the step and the input pipeline, write nothing

Writes to out_dir: checkpoints/, logs/ (TensorBoard), op-real/, op-recons/, op-gen/ and config.json.
Run the same command again to resume from the latest checkpoint.
"""
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import config
import data
import models
from config import UsageError

ARCH_FIELDS = ('arch', 'image_size', 'channels', 'z_dim')  # what a checkpoint's shapes depend on
GRID = 25  # images in each 5x5 sample grid, as the original


# ---- Losses: small pure functions on D's logits ---------------------------------------------------
# The original takes log(D) of a sigmoid probability, which gives NaN/inf once D saturates. With
# log(sigmoid(l)) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l) the same losses stay finite.

def discriminator_loss(logit_x, logit_fakes, real_weight=None):
    """L_D = -mean(log D(x)) - sum over the fakes of mean(log(1 - D(fake))): the original's
    -mean(log D(x) + log(1 - D(x~)) + log(1 - D(x_p))). With real_weight w (the official code's
    real_vs_gen_weight): w * real term + (1 - w) * fake terms."""
    real = tf.reduce_mean(tf.nn.softplus(-logit_x))
    fake = tf.add_n([tf.reduce_mean(tf.nn.softplus(logit)) for logit in logit_fakes])
    return real + fake if real_weight is None else real_weight * real + (1 - real_weight) * fake


def decoder_gan_loss(logit_fakes, form='non_saturating'):
    """G's GAN term over its fakes: 'non_saturating' sum of mean(-log D(fake)) (the original);
    'saturating' sum of mean(log(1 - D(fake))) (the official code: G minimises what D maximises)."""
    if form == 'saturating':
        return -tf.add_n([tf.reduce_mean(tf.nn.softplus(logit)) for logit in logit_fakes])
    return tf.add_n([tf.reduce_mean(tf.nn.softplus(-logit)) for logit in logit_fakes])


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


def kl_weight(setting, epoch, batch_size):
    """'1/batch' (the README: "almost always works"), 'sigmoid': sigmoid(epoch/3 - 5) with epoch
    counted from 0 (the original's commented-out schedule: 0.007 at first, saturating at 1), or a number."""
    setting = config.parse_kl_weight(setting)
    if setting == '1/batch':
        return 1.0 / tf.cast(batch_size, tf.float32)
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


# ---- The training step ----------------------------------------------------------------------------

def make_optimizers(cfg, encoder, decoder, discriminator):
    """One optimizer per network, keyed by the network's name, built so a checkpoint restores their
    slots: Adam with beta1 0.5 (the original) or RMSProp (the official code). With mixed precision each
    is wrapped in a LossScaleOptimizer."""
    optimizers = {}
    for net, lr in ((encoder, cfg.lr_encoder), (decoder, cfg.lr_decoder), (discriminator, cfg.lr_discriminator)):
        decay = cfg.weight_decay or None
        if cfg.optimizer == 'rmsprop':
            optimizer = keras.optimizers.RMSprop(lr, rho=0.9, epsilon=1e-8, weight_decay=decay)
        else:
            optimizer = keras.optimizers.Adam(lr, beta_1=cfg.beta1, weight_decay=decay)
        if cfg.mixed_precision:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(net.trainable_variables)
        optimizers[net.name] = optimizer
    return optimizers


def learning_rates(cfg, epoch):
    """{network: learning rate} in the epoch counted from 0: constant, or 'annealed' as the official
    GammaAnnealer: lr - (epoch / epochs)^0.75 * (lr - lr_end), from lr down to lr_end."""
    rates = {'encoder': cfg.lr_encoder, 'decoder': cfg.lr_decoder, 'discriminator': cfg.lr_discriminator}
    if cfg.lr_schedule == 'annealed':
        rates = {name: lr - (epoch / cfg.epochs) ** 0.75 * (lr - cfg.lr_end) for name, lr in rates.items()}
    return rates


def checkpointed(optimizer):
    """The optimizer a checkpoint holds: the same with or without loss scaling, so runs can switch."""
    return getattr(optimizer, 'inner_optimizer', optimizer)


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


def make_gradients(cfg, encoder, decoder, discriminator, optimizers, noise):
    """The phases of a step as functions of a batch. Each runs a fresh forward pass and returns
    (metrics, gradients of its network's loss with respect to that network's weights); 'simultaneous'
    returns all three networks' from one shared pass. Losses are float32, also under mixed precision.
    The gradients are of the loss divided by the number of replicas (their sum over replicas is the
    gradient of the global batch's mean) and scaled by the optimizer's loss scale (1 without)."""

    def encode_decode(x, stream):
        mean, sigma = encoder(x, training=True)
        z = mean + sigma * noise(tf.shape(sigma), stream)  # the reparameterisation trick
        return mean, sigma, decoder(z, training=True)

    def prior_sample(x, stream):
        return decoder(noise([tf.shape(x)[0], cfg.z_dim], stream), training=True)

    def gradients(tape, loss, net):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context else 1
        with tape:  # the tape records the scaling too
            scaled = optimizers[net.name].scale_loss(loss / replicas)
        return tape.gradient(scaled, net.trainable_variables)

    def discriminate(x, x_tilde, x_p):
        """D's losses and metrics on real x, reconstructions x~ (None: D's loss alone needs none) and
        prior samples x_p."""
        dis_l_x, logit_x = discriminator(x, training=True)
        _, logit_x_p = discriminator(x_p, training=True)
        metrics = {'real_cost': tf.reduce_mean(tf.nn.softplus(-logit_x)),  # -log D(x)
                   'fake_cost': tf.reduce_mean(tf.nn.softplus(logit_x_p)),  # -log(1 - D(x_p))
                   'd_x': tf.reduce_mean(tf.sigmoid(logit_x)), 'd_x_p': tf.reduce_mean(tf.sigmoid(logit_x_p))}
        fakes = [logit_x_p]
        if x_tilde is not None:
            dis_l_x_tilde, logit_x_tilde = discriminator(x_tilde, training=True)
            metrics['d_x_tilde'] = tf.reduce_mean(tf.sigmoid(logit_x_tilde))
            # The fakes D judges: x~ and x_p (the original), or x_p alone (the official code's CelebA).
            fakes = [logit_x_tilde, logit_x_p] if cfg.discriminate_recon else [logit_x_p]
            metrics['dis_l'] = dis_l = dis_l_loss(dis_l_x_tilde, dis_l_x, cfg.dis_l_likelihood)
            metrics['gan'] = gan = decoder_gan_loss(fakes, cfg.gan_loss)
            if cfg.recon_vs_gan_weight is None:
                metrics['decoder_loss'] = cfg.gamma_dec * dis_l + gan
            else:
                metrics['decoder_loss'] = cfg.recon_vs_gan_weight * dis_l + (1 - cfg.recon_vs_gan_weight) * gan
        metrics['discriminator_loss'] = discriminator_loss(logit_x, fakes, cfg.real_vs_gen_weight)
        return metrics

    def discriminator_gradients(x):
        # D: tell real x from reconstructions x~ (unless discriminate_recon is off: then no x~ is made)
        # and prior samples x_p.
        with tf.GradientTape() as tape:
            x_tilde = encode_decode(x, stream=0)[2] if cfg.discriminate_recon else None
            metrics = discriminate(x, x_tilde, prior_sample(x, stream=1))
        keep = ('discriminator_loss', 'real_cost', 'fake_cost', 'd_x', 'd_x_tilde', 'd_x_p')
        metrics = {k: v for k, v in metrics.items() if k in keep}
        return metrics, gradients(tape, metrics['discriminator_loss'], discriminator)

    def encoder_gradients(x, beta):
        # E: the prior (KL, weighted by beta) plus the learned similarity in D's feature space.
        with tf.GradientTape() as tape:
            mean, sigma, x_tilde = encode_decode(x, stream=2)
            dis_l_x, _ = discriminator(x, training=True)
            dis_l_x_tilde, _ = discriminator(x_tilde, training=True)
            kl = kl_loss(mean, sigma)
            loss = beta * kl + cfg.gamma_enc * dis_l_loss(dis_l_x_tilde, dis_l_x, cfg.dis_l_likelihood)
        return {'encoder_loss': loss, 'kl': kl, 'kl_weight': beta}, gradients(tape, loss, encoder)

    def decoder_gradients(x):
        # G: the learned similarity plus fooling D with x~ and x_p.
        with tf.GradientTape() as tape:
            _, _, x_tilde = encode_decode(x, stream=3)
            metrics = discriminate(x, x_tilde, prior_sample(x, stream=4))
        metrics = {k: metrics[k] for k in ('decoder_loss', 'dis_l', 'gan')}
        return metrics, gradients(tape, metrics['decoder_loss'], decoder)

    def simultaneous_gradients(x, beta):
        # All three losses from one forward pass; E and G see the D of before this step's update.
        with tf.GradientTape(persistent=True) as tape:
            mean, sigma, x_tilde = encode_decode(x, stream=0)
            metrics = discriminate(x, x_tilde, prior_sample(x, stream=1))
            kl = kl_loss(mean, sigma)
            metrics.update(kl=kl, kl_weight=beta, encoder_loss=beta * kl + cfg.gamma_enc * metrics['dis_l'])
        grads = {'discriminator': gradients(tape, metrics['discriminator_loss'], discriminator),
                 'encoder': gradients(tape, metrics['encoder_loss'], encoder),
                 'decoder': gradients(tape, metrics['decoder_loss'], decoder)}
        return metrics, grads

    return {'discriminator': discriminator_gradients, 'encoder': encoder_gradients,
            'decoder': decoder_gradients, 'simultaneous': simultaneous_gradients}


def split_batches(cfg, x):
    """(x_d, x_e, x_g): CelebA gives each network a fresh batch, MNIST the same one (ORIGINAL.md)."""
    return tuple(x) if cfg.fresh_batches else (x, x, x)


def make_train_step(cfg, encoder, decoder, discriminator, optimizers, steps_done, nonfinite_step):
    """train_step(x, epoch) -> dict of scalars. update='sequential': one D update, then one E update,
    then one G update, each from a fresh forward pass that sees the weights just updated (ORIGINAL.md);
    'simultaneous': all three from one pass. x is a batch, or with cfg.fresh_batches a tuple of three
    (per replica under a tf.distribute strategy). Each call adds 1 to `steps_done`; the number of the
    first step whose losses are not finite goes to `nonfinite_step`."""
    strategy = tf.distribute.get_strategy()
    phases = make_gradients(cfg, encoder, decoder, discriminator, optimizers, make_noise(cfg.seed, steps_done))
    if cfg.jit_compile:  # XLA compiles the forward and backward passes; the updates stay outside
        phases = {name: tf.function(fn, jit_compile=True) for name, fn in phases.items()}
    nets = {'encoder': encoder, 'decoder': decoder, 'discriminator': discriminator}

    skipped = {name: tf.Variable(0, dtype=tf.int64, trainable=False) for name in ('discriminator', 'decoder')}

    def apply(name, grads, update=None):
        """Applies grads; with the balance rule only where `update` holds, else counts a skip."""
        def step():
            optimizers[name].apply_gradients(zip(grads, nets[name].trainable_variables))

        def skip():
            skipped[name].assign_add(1)

        step() if update is None else tf.cond(update, step, skip)

    def replica_step(x, epoch):
        x_d, x_e, x_g = split_batches(cfg, x)
        global_batch = tf.shape(x_e)[0] * strategy.num_replicas_in_sync
        beta = kl_weight(cfg.kl_weight, epoch, global_batch)
        if cfg.update == 'simultaneous':
            metrics, grads = phases['simultaneous'](x_d, beta)
            for name in ('discriminator', 'encoder', 'decoder'):
                apply(name, grads[name])
            return metrics
        metrics_d, grads = phases['discriminator'](x_d)
        update_d = update_g = None
        if cfg.balance_margin is not None:  # decided on D's pass, before any update of this step
            update_d, update_g = balance(metrics_d['real_cost'], metrics_d['fake_cost'], cfg.equilibrium,
                                         cfg.balance_margin)
        apply('discriminator', grads, update_d)
        metrics_e, grads = phases['encoder'](x_e, beta)
        apply('encoder', grads)  # the encoder always updates
        metrics_g, grads = phases['decoder'](x_g)
        apply('decoder', grads, update_g)
        return {**metrics_d, **metrics_e, **metrics_g,
                **{f'{name}_skips': tf.cast(count, tf.float32) for name, count in skipped.items()}}

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


def make_histogram_writer(cfg, encoder, decoder, discriminator, optimizers, steps_done):
    """write_histograms(x, epoch, step): the original's weight and gradient histograms, for the current
    weights and one replica's batch, kept out of the training step (summary ops slow its tracing and
    block XLA). Their noise has a seed of its own, so the weights train the same with or without them
    (batch norm's moving averages, used only for images, see one batch more)."""
    noise = make_noise(cfg.seed + 1, steps_done)
    phases = make_gradients(cfg, encoder, decoder, discriminator, optimizers, noise)

    @tf.function
    def write_histograms(x, epoch, step):
        x_d, x_e, x_g = split_batches(cfg, x)
        beta = kl_weight(cfg.kl_weight, epoch, tf.shape(x_e)[0])
        for net, (_, grads) in ((discriminator, phases['discriminator'](x_d)),
                                (encoder, phases['encoder'](x_e, beta)), (decoder, phases['decoder'](x_g))):
            for var, grad in zip(net.trainable_variables, grads):
                tf.summary.histogram(f'{net.name}/{var.path}', var, step=step)
                tf.summary.histogram(f'{net.name}/{var.path}/gradient', grad, step=step)

    return write_histograms


# ---- Images ---------------------------------------------------------------------------------------

def reconstruct(encoder, decoder, x):
    """x -> G(mean of q(z|x)), batch norm in inference mode."""
    mean, _ = encoder(x, training=False)
    return decoder(mean, training=False)


def tile(images, cols=None):
    """uint8 images [N, H, W, C] -> one uint8 [rows*(H+2)+2, cols*(W+2)+2, C] grid, 2-pixel white borders.
    cols defaults to a square grid."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + 2) + 2, cols * (w + 2) + 2, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, k = divmod(i, cols)
        grid[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + k * (w + 2):2 + k * (w + 2) + w] = image
    return grid


def save_image(image, path, title=None, width=400):
    """A uint8 [H, W, C] image to a PNG at path, scaled up to about `width` pixels (nearest), with an
    optional title above it."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    h, w, c = image.shape
    scale = max(1, round(width / w))
    title_px = 30 if title else 0
    fig = Figure(figsize=(w * scale / 100, (h * scale + title_px) / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, h * scale / (h * scale + title_px)])
    ax.imshow(image[..., 0] if c == 1 else image, cmap='gray', vmin=0, vmax=255, interpolation='nearest')
    ax.axis('off')
    if title:
        fig.suptitle(title, y=1 - 4 / (h * scale + title_px), va='top')
    fig.savefig(path, dpi=100)


def save_grid(images, path, title=None, width=400):
    """uint8 images [N, H, W, C] -> a square grid PNG at path."""
    save_image(tile(images), path, title, width)


def save_samples(cfg, encoder, decoder, held_out, sample_z, epoch):
    """The original's per-epoch grids: held-out originals, their reconstructions, prior samples."""
    to_uint8 = lambda x: data.to_uint8(cfg, x).numpy()
    name = f'epoch_{epoch:04d}.png'
    save_grid(to_uint8(held_out), os.path.join(cfg.out_dir, 'op-real', name), f'originals, epoch {epoch}')
    save_grid(to_uint8(reconstruct(encoder, decoder, held_out)), os.path.join(cfg.out_dir, 'op-recons', name),
              f'reconstructions, epoch {epoch}')
    generations = to_uint8(decoder(sample_z, training=False))
    save_grid(generations, os.path.join(cfg.out_dir, 'op-gen', name), f'epoch {epoch}')
    tf.summary.image('generations', generations[:9], step=epoch, max_outputs=9)


# ---- Checkpoints ----------------------------------------------------------------------------------

def check_same_architecture(cfg, ckpt_dir):
    """Before anything is touched: a checkpoint in out_dir must be of this architecture."""
    saved_path = os.path.join(cfg.out_dir, 'config.json')
    if not (tf.train.latest_checkpoint(ckpt_dir) and os.path.exists(saved_path)):
        return
    with open(saved_path) as f:
        saved = json.load(f)
    for field in ARCH_FIELDS:
        if saved.get(field) != getattr(cfg, field):
            raise UsageError(
                f'{cfg.out_dir} holds a checkpoint of another model ({field}={saved.get(field)!r} there, '
                f'{getattr(cfg, field)!r} here): pass another --out_dir, or delete {ckpt_dir} to start over')


def restore(checkpoint, path):
    try:
        checkpoint.restore(path).assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as e:
        raise UsageError(f'{path} does not fit this model ({type(e).__name__}): pass another --out_dir, '
                         f'or the config it was trained with') from e


# ---- Training -------------------------------------------------------------------------------------

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


def train(cfg):
    strategy, is_chief = make_strategy(cfg)  # first: MultiWorkerMirroredStrategy must precede other ops
    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy('mixed_float16' if cfg.mixed_precision else 'float32')
    ckpt_dir = os.path.join(cfg.out_dir, 'checkpoints')
    if not cfg.benchmark_steps:
        check_same_architecture(cfg, ckpt_dir)

    # Build: the three networks, their optimizers, the counters, the checkpoint.
    with strategy.scope():
        encoder, decoder, discriminator = (models.build_encoder(cfg), models.build_decoder(cfg),
                                           models.build_discriminator(cfg))
        optimizers = make_optimizers(cfg, encoder, decoder, discriminator)
        sample_z = tf.Variable(tf.random.stateless_normal([GRID, cfg.z_dim], seed=[cfg.seed, -1]),
                               trainable=False)  # the generations' latent, fixed for the whole run
        epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False)
        steps_done = tf.Variable(0, dtype=tf.int64, trainable=False)
        nonfinite_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(
        encoder=encoder, decoder=decoder, discriminator=discriminator,
        encoder_optimizer=checkpointed(optimizers['encoder']), decoder_optimizer=checkpointed(optimizers['decoder']),
        discriminator_optimizer=checkpointed(optimizers['discriminator']), epoch=epochs_done, step=steps_done,
        sample_z=sample_z)
    # Every worker saves (saving is collective); all but the chief into a folder deleted afterwards.
    save_dir = ckpt_dir if is_chief else tempfile.mkdtemp(prefix='vae_gan_worker_')
    manager = tf.train.CheckpointManager(checkpoint, save_dir, max_to_keep=3)

    with strategy.scope():
        train_step = make_train_step(cfg, encoder, decoder, discriminator, optimizers, steps_done, nonfinite_step)
    if cfg.benchmark_steps:  # time the step on fresh weights; out_dir is neither read nor written
        train_ds, _ = data.train_dataset(cfg, seed=cfg.seed)
        return benchmark(cfg, strategy, train_ds, train_step, encoder, decoder, discriminator, optimizers,
                         steps_done)

    # Restore: go on from the latest checkpoint, at the next epoch.
    latest = tf.train.latest_checkpoint(ckpt_dir)
    if latest:
        restore(checkpoint, latest)
        print(f'resuming from {latest}: {int(epochs_done.numpy())} epochs done')
    first = int(epochs_done.numpy()) + 1
    if first > cfg.epochs:
        print(f'{cfg.out_dir} already holds {first - 1} epochs; nothing to do (raise --epochs to go on)')
        return

    # Data: a resumed run gets a shuffle order of its own, still fixed by the seed.
    train_ds, steps = data.train_dataset(cfg, seed=cfg.seed + first - 1)
    held_out = next(iter(data.held_out_dataset(cfg, GRID)))  # the same originals in every grid

    # Outputs: only now, once nothing can fail on bad input, is out_dir touched (by the chief only).
    if is_chief:
        for sub in ('op-real', 'op-recons', 'op-gen'):
            os.makedirs(os.path.join(cfg.out_dir, sub), exist_ok=True)
        with open(os.path.join(cfg.out_dir, 'config.json'), 'w') as f:
            json.dump(dataclasses.asdict(cfg), f, indent=2)
    writer = (tf.summary.create_file_writer(os.path.join(cfg.out_dir, 'logs')) if is_chief
              else tf.summary.create_noop_writer())
    # Histograms on one device only: their gradients are computed outside tf.distribute's replicas.
    histogram_every = cfg.histogram_every if strategy.num_replicas_in_sync == 1 and is_chief else 0
    write_histograms = make_histogram_writer(cfg, encoder, decoder, discriminator, optimizers, steps_done)
    step = int(steps_done.numpy())  # over all runs of out_dir
    batches = iter(strategy.experimental_distribute_dataset(train_ds))
    shown = ['discriminator_loss', 'encoder_loss', 'decoder_loss', 'kl_weight']
    skips_before = {}
    print(f'training {cfg.dataset} epochs {first}..{cfg.epochs}, {steps} steps of {cfg.batch_size} '
          f'images each, into {cfg.out_dir}')

    # Loop: step, log, sample, save.
    with writer.as_default():
        for epoch in range(first, cfg.epochs + 1):
            # a live bar on a terminal; in a log file the summary line below says it all
            bar = keras.utils.Progbar(steps, stateful_metrics=shown, verbose=1 if sys.stdout.isatty() else 0)
            epoch_index = tf.constant(epoch - 1, tf.float32)  # the sigmoid schedule counts from 0
            for name, lr in learning_rates(cfg, epoch - 1).items():
                checkpointed(optimizers[name]).learning_rate = lr
            for i in range(1, steps + 1):
                x = next(batches)
                if histogram_every and step % histogram_every == 0:
                    write_histograms(x, epoch_index, tf.constant(step, tf.int64))
                metrics = train_step(x, epoch_index)
                step += 1
                if i == 1:  # time from here: the first step of a run also traces the graph
                    start = time.perf_counter()
                if i % cfg.log_every and i < steps:
                    bar.update(i)
                    continue
                values = {name: float(value) for name, value in metrics.items()}
                for name, value in values.items():
                    tf.summary.scalar(name, value, step=step)
                bad = int(nonfinite_step.numpy())
                if bad >= 0:
                    sys.exit(f'error: a loss became non-finite at step {bad} (epoch {epoch}): stopping; '
                             f'the last good checkpoint stays in {ckpt_dir}. Try a lower learning rate.')
                bar.update(i, [(name, values[name]) for name in shown])
            seconds = time.perf_counter() - start
            images_per_second = (steps - 1) * cfg.batch_size / seconds if steps > 1 else float('nan')
            tf.summary.scalar('images_per_second', images_per_second, step=step)
            print(f'epoch {epoch}/{cfg.epochs}: {seconds:.1f} s, {images_per_second:.0f} images/s, '
                  + ', '.join(f'{name} {values[name]:.4g}' for name in shown))
            if cfg.balance_margin is not None:  # the *_skips metrics count this run's skipped updates
                skips = {name: values[f'{name}_skips'] - skips_before.get(name, 0) for name in ('discriminator', 'decoder')}
                skips_before = {name: values[f'{name}_skips'] for name in skips}
                print('  balance: skipped ' + ', '.join(f'{name} {n / steps:.0%}' for name, n in skips.items())
                      + f' of {steps} steps')
            epochs_done.assign(epoch)
            if is_chief and (epoch == 1 or epoch % cfg.sample_every == 0 or epoch == cfg.epochs):
                save_samples(cfg, encoder, decoder, held_out, sample_z, epoch)
            if is_chief and cfg.eval_every and epoch % cfg.eval_every == 0:
                import metrics
                for name, value in metrics.evaluate(cfg, encoder, decoder, cfg.eval_samples, seed=cfg.seed).items():
                    if not isinstance(value, str):
                        tf.summary.scalar(f'eval/{name}', value, step=step)
            if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
                manager.save(checkpoint_number=epoch)
            writer.flush()
    if not is_chief:
        shutil.rmtree(save_dir, ignore_errors=True)


def benchmark(cfg, strategy, train_ds, train_step, encoder, decoder, discriminator, optimizers, steps_done,
              warmup=3):
    """Prints images/s of the whole step on the real pipeline, of the pipeline alone, and the step's
    split between D, E and G (each phase compiled and timed alone, on one device). Writes nothing."""
    n = cfg.benchmark_steps
    per_element = cfg.batch_size * (3 if cfg.fresh_batches else 1)  # images the pipeline makes per step
    epoch = tf.constant(0.0)
    batches = iter(strategy.experimental_distribute_dataset(train_ds))

    def timed(fn):
        for _ in range(warmup):
            result = fn()
        start = time.perf_counter()
        for _ in range(n):
            result = fn()
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, 'numpy') else t, result)  # wait for the last
        return (time.perf_counter() - start) / n

    pipeline = timed(lambda: next(batches))
    step = timed(lambda: train_step(next(batches), epoch))
    x_d, x_e, x_g = split_batches(cfg, next(iter(train_ds)))
    gradients = make_gradients(cfg, encoder, decoder, discriminator, optimizers, make_noise(cfg.seed, steps_done))
    beta = kl_weight(cfg.kl_weight, epoch, cfg.batch_size)
    phases = {}
    for net, args in ((discriminator, (x_d,)), (encoder, (x_e, beta)), (decoder, (x_g,))):
        @tf.function(jit_compile=cfg.jit_compile)
        def update(*args, net=net):
            metrics, grads = gradients[net.name](*args)
            optimizers[net.name].apply_gradients(zip(grads, net.trainable_variables))
            return metrics
        phases[net.name] = timed(lambda: update(*args))
    total = sum(phases.values())
    print(f'benchmark {cfg.dataset}, batch {cfg.batch_size}, {n} steps after {warmup} of warm-up:')
    print(f'  step:     {cfg.batch_size / step:9.1f} images/s ({step * 1000:.1f} ms/step)')
    print(f'  pipeline: {per_element / pipeline:9.1f} images/s ({step / pipeline:.1f}x what the step consumes)')
    print('  split:    ' + ', '.join(f'{name} {t / total:.0%}' for name, t in phases.items())
          + (' (of the sequential step; this one shares one pass)' if cfg.update == 'simultaneous' else ''))
    return {'step_seconds': step, 'pipeline_seconds': pipeline, **{f'{k}_seconds': v for k, v in phases.items()}}


def main(argv):
    try:
        train(config.from_args(argv))
    except UsageError as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main(sys.argv[1:])
