"""Train VAE/GAN (Larsen et al. 2016) as the original TensorFlow 1 repo does (PrateekMunjal/VAE_GAN):

    python vae_gan.py                                 # config.py's preset (PRESET: mnist) into MNIST/
    python vae_gan.py --preset=celeb_a --epochs=5     # any config.py field as --field=value
    python vae_gan.py --preset=folder --data_dir=my_pictures --out_dir=runs/mine   # your own pictures
    TFDS_DATA_DIR=~/tensorflow_datasets python vae_gan.py   # offline, from a prepared tensorflow-datasets copy

Common flags (every field of config.py's Config is one; config.py says what each does and why):
    --preset=NAME     mnist, mnist_ema_mixture, mnist_balance, mnist_sigmoid, folder, fashion_mnist, cifar10,
                      celeb_a, celeb_a_paper
    --out_dir=DIR     the run's folder: a new one starts a run, a run's goes on from its newest checkpoint
    --epochs=N        train until N epochs are done
    --data_dir=DIR    a folder of your own images instead of tensorflow-datasets
    --image_size=N    the images' side as the networks see it (celeb_a: a multiple of 8); --channels=1|3
    --z_dim=N, --batch_size=N, --lr_decoder=X, --kl_weight=...   the hyperparameters
    --eval_every=N    epochs between validation scores, which keep the best model in best/; 0 = none
    --mixed_precision=bfloat16   faster on CPUs with AVX512-BF16
Every start takes config.py's preset with the command's flags on top, so an edit to config.py takes
effect when a run goes on; a run keeps its networks, data and seed (a change to one is refused).

Top to bottom: the original's step (three tapes: D, the encoder, the decoder), the helpers every update
uses, the official one-pass step; then the run: build, resume, and each epoch's steps, log, D's
overfitting, checkpoint, grids and validation scores. Writes checkpoints/, best/, logs/, op-*/, scores.jsonl
and config.json into out_dir; the same command resumes from the newest intact checkpoint. Epochs count from 1.
"""
import concurrent.futures
import dataclasses
import itertools
import math
import os
import sys
import time

import configurator  # noqa: E402  (pure Python: the flags are checked before TensorFlow loads)
import run_folder  # noqa: E402

STARTED = run_folder.start(__name__, __doc__,
                          lambda argv: configurator.for_training(configurator.parse_overrides(argv)))
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import best_model
import checkpoints
import data
import images
import metrics
import models
from configurator import UsageError

UPDATE_ORDER = ('discriminator', 'encoder', 'decoder')  # the original's order within a step


# ---- The original's step: D, then the encoder, then the decoder -----------------------------------

def encode_decode(nets, x, noise, stream):
    """(mean, sigma, x~): the encoder's q(z|x), a z drawn from it, and its decoding."""
    mean, sigma = nets.encoder(x, training=True)
    z = mean + sigma * noise(tf.shape(sigma), stream)  # the reparameterisation trick
    return mean, sigma, nets.decoder(z, training=True)


def prior_sample(cfg, nets, x, noise, stream):
    """x_p = decoder(z_p), z_p ~ N(0, I): one per row of x."""
    return nets.decoder(noise([tf.shape(x)[0], cfg.z_dim], stream), training=True)


def original_step(cfg, nets, batches, kl_weight, noise):
    """update='sequential': D, then the encoder, then the decoder steps (the original's MNIST/vae-gan.py:300,
    309, 318), each from a fresh forward pass that sees the updates before it. batches: (x_d, x_enc, x_dec),
    one batch three times or three (fresh_batches); noise(shape, stream): N(0, I). Returns (scalars, grads)."""
    x_d, x_enc, x_dec = batches
    grads = {}
    aug = augmenter(cfg, nets, noise)  # what D sees of an image: itself, unless augment is set
    # 1. D tells real x from prior samples x_p and (discriminate_recon) reconstructions x~: L_D
    with tf.GradientTape() as tape:
        x_tilde = encode_decode(nets, x_d, noise, stream=0)[2] if cfg.discriminate_recon else None
        x_p = prior_sample(cfg, nets, x_d, noise, stream=1)
        _, logit_x, r1 = models.discriminate_real(nets.discriminator, aug(x_d, 0), r1=cfg.r1_gamma > 0)
        _, logit_x_p = nets.discriminator(aug(x_p, 1), training=True)
        logit_x_tilde = None if x_tilde is None else nets.discriminator(aug(x_tilde, 2), training=True)[1]
        loss_d = models.discriminator_loss(logit_x, fakes(cfg, logit_x_tilde, logit_x_p), cfg.real_vs_gen_weight,
                                           cfg.gan_log_offset)  # the original's MNIST/vae-gan.py:166-168
        if r1 is not None:  # R1: D's slope at the real images, kept small (Mescheder et al. 2018)
            loss_d += cfg.r1_gamma / 2 * r1
    grads['discriminator'] = gradients(cfg, nets, 'discriminator', tape, loss_d)
    seen = judgement(cfg, logit_x, logit_x_p, logit_x_tilde, r1)
    update_d, update_decoder = models.balance(seen, cfg.equilibrium, cfg.balance_margin)  # the balance rule
    apply(nets, 'discriminator', grads['discriminator'], allowed=update_d)
    # 2. The encoder, against the D just updated: kl_weight * KL + gamma_enc * Dis_l (x, x~ augmented alike)
    with tf.GradientTape() as tape:
        mean, sigma, x_tilde = encode_decode(nets, x_enc, noise, stream=2)
        dis_l_x, _ = nets.discriminator(aug(x_enc, 3), training=True)
        dis_l_x_tilde, _ = nets.discriminator(aug(x_tilde, 3), training=True)
        kl = models.kl_loss(mean, sigma)
        loss_enc = kl_weight * kl + cfg.gamma_enc * models.dis_l_loss(dis_l_x_tilde, dis_l_x, cfg.dis_l_likelihood)
    grads['encoder'] = gradients(cfg, nets, 'encoder', tape, loss_enc)  # the original's MNIST/vae-gan.py:193
    apply(nets, 'encoder', grads['encoder'])
    # 3. The decoder, against the new D and encoder: gamma_dec * Dis_l + fooling D with x~ and x_p
    weighted = cfg.adaptive_gan_weight is not None
    with tf.GradientTape(persistent=weighted) as tape:
        _, _, x_tilde = encode_decode(nets, x_dec, noise, stream=3)
        x_p = prior_sample(cfg, nets, x_dec, noise, stream=4)
        dis_l_x, _ = nets.discriminator(aug(x_dec, 4), training=True)
        _, logit_x_p = nets.discriminator(aug(x_p, 5), training=True)
        dis_l_x_tilde, logit_x_tilde = nets.discriminator(aug(x_tilde, 4), training=True)
        dis_l = models.dis_l_loss(dis_l_x_tilde, dis_l_x, cfg.dis_l_likelihood)
        gan = models.decoder_gan_loss(fakes(cfg, logit_x_tilde, logit_x_p), cfg.gan_loss, cfg.gan_log_offset)
        if weighted:  # VQGAN's adaptive weight of the GAN term, from the gradients at the decoder's last kernel
            last = [v for v in nets.decoder.trainable_variables if v.path.endswith('kernel')][-1]
            scale = nets.optimizers['decoder'].scale_loss  # (float16: both scaled, the ratio as it is)
            seen['gan_weight'] = cfg.adaptive_gan_weight * models.adaptive_weight(
                tape, scale(cfg.gamma_dec * dis_l), scale(gan), last)
        loss_dec = models.decoder_loss(dis_l, gan * seen['gan_weight'] if weighted else gan, cfg.gamma_dec,
                                       cfg.recon_vs_gan_weight)  # the original's MNIST/vae-gan.py:181
    grads['decoder'] = gradients(cfg, nets, 'decoder', tape, loss_dec)
    apply(nets, 'decoder', grads['decoder'], allowed=update_decoder)
    return {**seen, 'discriminator_loss': loss_d, 'encoder_loss': loss_enc, 'kl': kl, 'kl_weight': kl_weight,
            'decoder_loss': loss_dec, 'dis_l': dis_l, 'gan': gan}, grads


def augmenter(cfg, nets, noise):
    """aug(images, stream): the images as D sees them: DiffAugment (models.augment) with the draw of `stream`,
    so images given one stream move alike (x and x~ where Dis_l compares them); the images themselves without
    cfg.augment. The chance: augment_p, or ADA's (nets.augment_p) with ada_target."""
    if not cfg.augment:
        return lambda images, stream: images
    p = cfg.augment_p if nets.augment_p is None else nets.augment_p
    return lambda images, stream: models.augment(
        images, cfg.augment, p, noise([tf.shape(images)[0], models.AUGMENT_DRAWS], stream, uniform=True))


def fakes(cfg, logit_x_tilde, logit_x_p):
    """The fakes' logits D judges: x~ and x_p (the original), or x_p alone (the official code)."""
    return [logit_x_tilde, logit_x_p] if cfg.discriminate_recon else [logit_x_p]


def judgement(cfg, logit_x, logit_x_p, logit_x_tilde=None, r1=None):
    """What D's pass says, logged: D's mean output on x, x_p and x~, R1, the balance rule's inputs
    real_cost = mean(-log D(x)) and fake_cost = mean(-log(1 - D(x_p))) (x_p only, as model/aegan.py), and
    with ada_target the mean sign of D's logits on x."""
    seen = {'real_cost': tf.reduce_mean(models.neg_log_d(logit_x, cfg.gan_log_offset)),
            'fake_cost': tf.reduce_mean(models.neg_log_not_d(logit_x_p, cfg.gan_log_offset)),
            'd_x': tf.reduce_mean(tf.sigmoid(logit_x)), 'd_x_p': tf.reduce_mean(tf.sigmoid(logit_x_p))}
    if logit_x_tilde is not None:
        seen['d_x_tilde'] = tf.reduce_mean(tf.sigmoid(logit_x_tilde))
    if cfg.ada_target is not None:  # ADA's r_t for this step: the mean sign of D's logits on x, about neutral
        seen['sign_x'] = tf.reduce_mean(tf.sign(tf.cast(logit_x, tf.float32) - neutral_logit(cfg)))
    return seen if r1 is None else {**seen, 'r1': r1}


# ---- What every update adds: the L2 penalty, the replicas' share, the loss scale, the balance rule -----

LATENT_HEADS = ('mean', 'sigma', 'logvar')  # the encoder's last layers [architectures.py:45-47, model/ae.py:69-74]


def gradients(cfg, nets, name, tape, loss):
    """Network `name`'s gradient of `loss` plus kernel_l2 * its kernels' squared norm but the latent heads'
    (DeepPy's weight decay), divided among the replicas and scaled by float16's loss scale."""
    context = tf.distribute.get_replica_context()
    with tape:  # the tape records the penalty and the scaling too
        if cfg.kernel_l2:
            kernels = [v for v in nets[name].trainable_variables
                       if v.path.endswith('kernel') and v.path.split('/')[0] not in LATENT_HEADS]
            loss += cfg.kernel_l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in kernels])
        scaled = nets.optimizers[name].scale_loss(loss / (context.num_replicas_in_sync if context else 1))
    return tape.gradient(scaled, nets[name].trainable_variables)


def apply(nets, name, grads, allowed=None):
    """The optimizer steps network `name` along `grads`, unless `allowed` (the balance rule's verdict; None:
    always) is false: then the skip is counted. On steps due a histogram the gradients are kept too."""
    if nets.gradients:
        keep = lambda: tf.group([kept.assign(grad) for kept, grad in zip(nets.gradients[name], grads)])
        tf.cond(nets.histogram_due, keep, tf.no_op)
    step = lambda: nets.optimizers[name].apply_gradients(zip(grads, nets[name].trainable_variables))
    step() if allowed is None else tf.cond(allowed, step, lambda: nets.skips[name].assign_add(1))


# ---- The official code's one-pass step --------------------------------------------------------------

def one_pass_step(cfg, nets, batches, kl_weight, noise):
    """update='simultaneous': all three losses from one forward pass, then each network steps, none seeing
    another's update [model/aegan.py:57-119, 181-205]. concat_batches, the official pass: D on [x, x_p] and
    Dis_l on [x~, x], sharing batch-norm statistics; the Dis_l target passes no gradient back
    [model/ae.py:24-28]; saturating: the decoder steps along minus D's loss [aegan.py:29-33]."""
    x = batches[0]
    with tf.GradientTape(persistent=True) as tape:
        mean, sigma, x_tilde = encode_decode(nets, x, noise, stream=0)
        x_p = prior_sample(cfg, nets, x, noise, stream=1)
        if cfg.concat_batches:
            n = tf.shape(x)[0]
            _, logits = nets.discriminator(tf.concat([x, x_p], 0), training=True)  # D's judgement
            features, logits_tilde = nets.discriminator(tf.concat([x_tilde, x], 0), training=True)  # Dis_l
            logit_x, logit_x_p, logit_x_tilde = logits[:n], logits[n:], logits_tilde[:n]
            dis_l_x_tilde, dis_l_x = features[:n], tf.stop_gradient(features[n:])
        else:
            dis_l_x, logit_x = nets.discriminator(x, training=True)
            _, logit_x_p = nets.discriminator(x_p, training=True)
            dis_l_x_tilde, logit_x_tilde = nets.discriminator(x_tilde, training=True)
        loss_d = models.discriminator_loss(logit_x, fakes(cfg, logit_x_tilde, logit_x_p), cfg.real_vs_gen_weight,
                                           cfg.gan_log_offset)
        kl, dis_l = models.kl_loss(mean, sigma), models.dis_l_loss(dis_l_x_tilde, dis_l_x, cfg.dis_l_likelihood)
        loss_enc = kl_weight * kl + cfg.gamma_enc * dis_l
        if cfg.concat_batches and cfg.gan_loss == 'saturating' and not cfg.discriminate_recon:  # the official
            gan = -loss_d / (1 - (cfg.real_vs_gen_weight or 0))
        else:
            gan = models.decoder_gan_loss(fakes(cfg, logit_x_tilde, logit_x_p), cfg.gan_loss, cfg.gan_log_offset)
        loss_dec = models.decoder_loss(dis_l, gan, cfg.gamma_dec, cfg.recon_vs_gan_weight)
    losses = {'discriminator': loss_d, 'encoder': loss_enc, 'decoder': loss_dec}
    grads = {name: gradients(cfg, nets, name, tape, losses[name]) for name in UPDATE_ORDER}
    seen = judgement(cfg, logit_x, logit_x_p, logit_x_tilde)
    update_d, update_decoder = models.balance(seen, cfg.equilibrium, cfg.balance_margin)
    for name, allowed in zip(UPDATE_ORDER, (update_d, None, update_decoder)):
        apply(nets, name, grads[name], allowed)
    return {**seen, 'discriminator_loss': loss_d, 'encoder_loss': loss_enc, 'kl': kl, 'kl_weight': kl_weight,
            'decoder_loss': loss_dec, 'dis_l': dis_l, 'gan': gan}, grads


# ---- The step as training runs it: on each replica, counted, checked, averaged ----------------------

def make_noise(seed, steps_done):
    """noise(shape, stream, uniform=False) -> N(0, I) rows (uniform: in [0, 1), drawn from keys of their own)
    for this replica's share of the global batch, fixed by (seed, step, stream, row): the same on any devices,
    with or without XLA, and on resuming."""
    def noise(shape, stream, uniform=False):
        context = tf.distribute.get_replica_context()  # None outside the replicas: one device
        replicas, replica = (context.num_replicas_in_sync, context.replica_id_in_sync_group) if context else (1, 0)
        rows = shape[0]
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(steps_done, tf.int64) * 8 + stream])
        if uniform:
            z = tf.random.stateless_uniform(tf.stack([rows * replicas, shape[1]]),
                                            seed=tf.random.experimental.stateless_fold_in(key, 1))
        else:
            z = tf.random.stateless_normal(tf.stack([rows * replicas, shape[1]]), seed=key)
        return z[replica * rows:(replica + 1) * rows]
    return noise


ADA_INTERVAL = 4  # steps between ADA's moves of p (stylegan2-ada-pytorch's ada_interval)


def neutral_logit(cfg):
    """D's logit where L_D leaves it when it cannot tell real from fake: the log of the real term's weight over
    the fake terms'. ADA's loss weighs them alike (0, the sign's threshold there); the original's has two fakes
    per real (log 1/2: D says 1/3 on everything), so r_t measures D's signs about this, not about 0."""
    fakes = 2 if cfg.discriminate_recon else 1
    real = 1.0 if cfg.real_vs_gen_weight is None else cfg.real_vs_gen_weight
    return math.log(real / (fakes * (1.0 if cfg.real_vs_gen_weight is None else 1 - cfg.real_vs_gen_weight)))


def adapt(cfg, nets, sign_x, step_number):
    """ADA's heuristic (Karras et al. 2020; stylegan2-ada-pytorch's training/training_loop.py:311-315): every
    ADA_INTERVAL steps p += sign(r_t - ada_target) * batch_size * ADA_INTERVAL / ada_images, at least 0, where
    r_t is the mean of those steps' sign_x (the sign of D's logits on x about neutral_logit)."""
    nets.signs.assign_add(sign_x)
    due = step_number % ADA_INTERVAL == 0
    r_t = nets.signs / ADA_INTERVAL
    moved = nets.augment_p + tf.sign(r_t - cfg.ada_target) * (cfg.batch_size * ADA_INTERVAL / cfg.ada_images)
    nets.augment_p.assign(tf.where(due, tf.maximum(moved, 0.0), nets.augment_p))
    nets.signs.assign(tf.where(due, 0.0, nets.signs))


def make_train_step(cfg, nets, steps_done, nonfinite_step):
    """train_step(x, epoch) -> the step's scalars: original_step or one_pass_step on x (fresh_batches: three
    batches), counted in `steps_done`; the first step with a non-finite loss goes to `nonfinite_step`."""
    strategy = tf.distribute.get_strategy()
    noise = make_noise(cfg.seed, steps_done)
    step = original_step if cfg.update == 'sequential' else one_pass_step

    def replica_step(x, epoch):
        batches = tuple(x) if cfg.fresh_batches else (x, x, x)  # x_d, x_enc, x_dec
        kl_weight = models.kl_weight(cfg.kl_weight, epoch, tf.shape(batches[1])[0] * strategy.num_replicas_in_sync,
                                     cfg.z_dim)  # '1/batch': the global batch's size
        scalars, _ = step(cfg, nets, batches, kl_weight, noise)
        return {**scalars, **{f'{name}_skips': tf.cast(n, tf.float32) for name, n in nets.skips.items()}}

    @tf.function(autograph=False, jit_compile=cfg.jit_compile)  # Python branches on settings only: no AutoGraph
    def train_step(x, epoch):
        step_number = steps_done.assign_add(1)  # counted from 1
        if nets.gradients:  # histograms kept (build): of this step's gradients?
            nets.histogram_due.assign((step_number - 1) % cfg.histogram_every == 0)
        per_replica = strategy.run(replica_step, args=(x, epoch))
        scalars = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}
        finite = tf.reduce_all(tf.math.is_finite(tf.stack([scalars[f'{name}_loss'] for name in UPDATE_ORDER])))
        nonfinite_step.assign(tf.where(finite | (nonfinite_step >= 0), nonfinite_step, step_number))
        if nets.averages:  # ema_decay: the weights' average for sampling, after every update of the step
            models.update_averages(nets, cfg.ema_decay, step_number)
        if nets.augment_p is not None:  # ada_target: the augmentation's chance follows D's r_t
            adapt(cfg, nets, scalars['sign_x'], step_number)
            scalars['augment_p'] = nets.augment_p.read_value()
        return scalars

    return train_step


# ---- Building a run: the networks, counters, the step and the checkpoint ------------------------------

def write_histograms(nets, step):
    """Histograms of every weight and of the gradient apply kept, tagged by the layer's place in its network
    (discriminator/00_conv2d/kernel), not by Keras' process-wide layer counters."""
    for name, copies in nets.gradients.items():
        kept = dict(zip(map(id, nets[name].trainable_variables), copies))
        weighted = [layer for layer in nets[name].layers if layer.trainable_weights]
        for i, layer in enumerate(weighted):
            for var in layer.trainable_weights:
                label = f'weights/{name}/{i:02d}_{type(layer).__name__.lower()}/{var.name}'
                tf.summary.histogram(label, var, step=step)
                tf.summary.histogram(f'{label}/gradient', kept[id(var)], step=step)


@dataclasses.dataclass
class Run:
    strategy: tf.distribute.Strategy
    nets: models.Networks
    train_step: object  # make_train_step's tf.function
    all_finite: object  # checkpoints.make_finite_check's: worth saving?
    checkpoint: tf.train.Checkpoint
    epochs_done: tf.Variable
    steps_done: tf.Variable
    nonfinite_step: tf.Variable  # -1 while every loss is finite
    sample_z: tf.Variable  # the op-gen/ grids' latent, fixed for the whole run
    d_logits: object = None  # make_d_logits' tf.function: D's logits, read without a state change
    watched: tuple = None  # watched_images': D's overfitting measured on them every epoch
    extractors: dict = None  # metrics.feature_extractors, loaded when this run scores (eval_every)
    skips: dict = dataclasses.field(default_factory=dict)  # balance-rule skips counted at the last epoch's end


def make_strategy(cfg):
    """'default': one device; 'mirrored': all local GPUs (else all logical CPUs), batch split among them."""
    if cfg.strategy == 'mirrored':
        devices = tf.config.list_logical_devices('GPU') or tf.config.list_logical_devices('CPU')
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def build(cfg):
    """The strategy, the networks and optimizers, the counters, the step and the checkpoint (out_dir untouched)."""
    strategy = make_strategy(cfg)
    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy(configurator.PRECISIONS[cfg.mixed_precision])
    grid_z = models.prior_z(images.GRID, cfg.z_dim, cfg.seed).numpy()  # drawn outside the scope: no mirroring
    with strategy.scope():
        nets = models.build_networks(cfg)
        sample_z = tf.Variable(grid_z, trainable=False)
        epochs_done, steps_done, nonfinite_step = (tf.Variable(value, dtype=tf.int64, trainable=False)
                                                   for value in (0, 0, -1))
        if cfg.histogram_every and strategy.num_replicas_in_sync == 1:  # histograms on one device only
            nets.gradients = {name: [tf.Variable(tf.zeros_like(v), trainable=False)
                                     for v in nets[name].trainable_variables] for name in UPDATE_ORDER}
            nets.histogram_due = tf.Variable(False, trainable=False)
        train_step = make_train_step(cfg, nets, steps_done, nonfinite_step)
    checkpoint = tf.train.Checkpoint(
        encoder=nets.encoder, decoder=nets.decoder, discriminator=nets.discriminator,
        **{f'{name}_optimizer': models.unscaled(nets.optimizers[name]) for name in UPDATE_ORDER},
        epoch=epochs_done, step=steps_done, sample_z=sample_z,
        **{f'{name}_average': average for name, average in nets.averages.items()},
        **({'augment_p': nets.augment_p, 'ada_signs': nets.signs} if nets.augment_p is not None else {}))
    return Run(strategy, nets, train_step, checkpoints.make_finite_check(nets, sample_z), checkpoint,
               epochs_done, steps_done, nonfinite_step, sample_z, make_d_logits(cfg, nets))


# ---- The run: build, resume, then for each epoch the steps, the log, a checkpoint and the samples ----

def train(cfg, started=None):
    """Trains cfg's run into out_dir, going on from its newest intact checkpoint. started: the command's
    perf_counter() start, for the start-up line."""
    loaded = f'TensorFlow loaded in {time.perf_counter() - started:.1f} s, ' if started else ''
    started = started or time.perf_counter()
    run = build(cfg)
    with run_folder.locked(cfg.out_dir):
        done = resume(cfg, run)
        unscored = best_model.unscored(cfg, done)  # a stop came after its checkpoint, before its scores
        if done >= cfg.epochs and not unscored:
            print(f'{cfg.out_dir} already holds {done} epochs; nothing to do (raise --epochs to go on)')
            return
        batches, steps, held_out, timings = inputs(cfg, run, done)
        run.watched = watched_images(cfg)
        run.extractors = best_model.start(cfg, done - unscored)  # when scores are due: their networks
        writer = start_outputs(cfg)  # only now, once nothing can fail on bad input, is out_dir written
        if done < cfg.epochs:
            print(f'training {cfg.preset} epochs {done + 1}..{cfg.epochs}, {steps} step{"s" * (steps != 1)} of '
                  f'{cfg.batch_size} images{" per network" if cfg.fresh_batches else ""} each, into {cfg.out_dir}')
        print(f'started in {time.perf_counter() - started:.1f} s: {loaded}{timings}')
        try:
            with writer.as_default():
                if unscored and run.extractors is not None:  # scored first, as it would have been
                    log_scores(cfg, run, done, log_overfitting(cfg, run))
                for epoch in range(done + 1, cfg.epochs + 1):
                    values, seconds = train_epoch(cfg, run, batches, steps, epoch)  # the steps, logged as they go
                    end_epoch(cfg, run, epoch, values, seconds, steps, held_out)  # checkpoint, grids, scores
                    writer.flush()
        finally:
            writer.close()  # what was logged reaches the disk, however the run ends
        print(f'done: {cfg.epochs} epoch{"s" * (cfg.epochs != 1)} in {cfg.out_dir}; render them with '
              f'`{run_folder.command("vae_gan_inference.py")} --out_dir={cfg.out_dir}`')


def resume(cfg, run):
    """Restores the newest intact checkpoint in out_dir, if any; returns the epochs done."""
    saved = configurator.run_config(cfg.out_dir)
    if saved:  # another z_dim, say, is refused before anything is touched
        configurator.check_same_model(cfg.out_dir, saved,
                                      {field: getattr(cfg, field) for field in configurator.ARCH_FIELDS})
    latest = checkpoints.restore_newest(run.checkpoint, run_folder.checkpoint_folder(cfg.out_dir))
    done = int(run.epochs_done.numpy())
    if latest:
        print(f'resuming from {latest}: {done} epoch{"s" * (done != 1)} done')
    best_model.forget_after(cfg.out_dir, done)  # the scores of the epochs to be redone go; best/ stays
    return done


def inputs(cfg, run, done):
    """(batches, steps per epoch, the grids' held-out originals, a line of what start-up took). The step is
    traced while the pipeline makes its first batch (MNIST's fills a shuffle buffer of the whole training set)."""
    if cfg.data_dir:
        print(data.describe_folder(cfg))
    train_ds, steps = data.train_dataset(cfg, seed=cfg.seed + done)
    batches = run_folder.keep_until_exit(iter(run.strategy.experimental_distribute_dataset(train_ds)))
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        start = time.perf_counter()
        first = pool.submit(next, batches, None)
        held_out = next(iter(data.held_out_dataset(cfg, images.GRID)), None)  # the same originals in every grid
        if held_out is None:
            raise UsageError(f'no readable held-out images ({cfg.held_out_split} split): the grids need some')
        traced = ''
        if run.strategy.num_replicas_in_sync == 1:  # a distributed batch's spec is not a plain tensor's
            run.train_step.get_concrete_function(train_ds.element_spec, tf.TensorSpec([], tf.float32))
            traced = f'the step traced in {time.perf_counter() - start:.1f} s while '
        first_batch = first.result()
    finally:
        pool.shutdown(wait=False)
    if first_batch is None:  # fewer readable images than a batch: the others are named in warnings above
        raise UsageError(f'not one batch of {cfg.batch_size} readable training images in {cfg.data_dir or cfg.dataset} '
                         f'(see the warnings above): fix or remove those files, or pass a smaller --batch_size')
    timings = f'{traced}the data made its first batch in {time.perf_counter() - start:.1f} s'
    return itertools.chain([first_batch], batches), steps, held_out, timings


def start_outputs(cfg):
    """The grid folders and config.json; returns the TensorBoard writer."""
    for sub in ('op-real', 'op-recons', 'op-gen'):
        run_folder.folder(cfg.out_dir, sub)
    run_folder.write_json(configurator.config_file(cfg.out_dir), dataclasses.asdict(cfg))
    # config.py's preset as this start read it: the next start tells an edit of config.py by it
    run_folder.write_json(os.path.join(cfg.out_dir, configurator.PRESET_FILE),
                     dataclasses.asdict(configurator.PRESETS[cfg.preset]))
    return tf.summary.create_file_writer(run_folder.folder(cfg.out_dir, 'logs'))


SHOWN = ('discriminator_loss', 'encoder_loss', 'decoder_loss', 'kl_weight')  # on the progress bar
PARTS = {'kl': 'encoder', 'kl_weight': 'encoder', 'dis_l': 'decoder', 'gan': 'decoder',
         'gan_weight': 'decoder'}  # the rest: D's pass, but for ADA's figures


def tag(name):
    """A step's scalar as TensorBoard shows it: each network's loss (loss/decoder), then its parts and skips
    (loss/decoder/gan, loss/decoder/skips); the losses first, as its groups sort by name. ADA's chance and
    the step's r_t beside the epoch's D figures (overfitting/augment_p, overfitting/sign_x)."""
    network, _, part = name.rpartition('_')
    if part in ('loss', 'skips'):
        return f'loss/{network}' + ('/skips' if part == 'skips' else '')
    if name in ('augment_p', 'sign_x'):
        return f'overfitting/{name}'
    return f'loss/{PARTS.get(name, "discriminator")}/{name}'


def train_epoch(cfg, run, batches, steps, epoch):
    """One epoch of steps, logged every log_every steps, histograms every histogram_every. Returns (the last
    logged values, seconds from the end of the first step, or of the whole epoch if it has one step)."""
    for name, lr in models.learning_rates(cfg, epoch).items():
        models.unscaled(run.nets.optimizers[name]).learning_rate = lr
    # a live bar on a terminal; in a log file the epoch's summary line says it all
    bar = keras.utils.Progbar(steps, stateful_metrics=SHOWN, verbose=1 if sys.stdout.isatty() else 0)
    epoch_tensor = tf.constant(epoch, tf.float32)
    step = int(run.steps_done.numpy())  # over all runs of out_dir
    start = time.perf_counter()  # (an epoch of one step is timed from before it)
    for i in range(1, steps + 1):
        run_folder.stop_if_asked()  # a Ctrl-C whose exception was lost on the way stops here
        scalars = run.train_step(next(batches), epoch_tensor)
        if run.nets.gradients and step % cfg.histogram_every == 0:  # this step kept its gradients
            write_histograms(run.nets, step)
        step += 1
        if i == 1 and steps > 1:  # time from here: the first step of a run also optimizes the graph
            start = time.perf_counter()
        if i % cfg.log_every and i < steps:
            bar.update(i)
            continue
        values = {name: float(value) for name, value in scalars.items()}
        for name, value in values.items():
            tf.summary.scalar(tag(name), value, step=step)
        bad = int(run.nonfinite_step.numpy())
        if bad >= 0:
            sys.exit(f'error: a loss became non-finite at step {bad} (epoch {epoch}): stopping; the last good '
                     f'checkpoint stays in {run_folder.checkpoint_folder(cfg.out_dir)}. Try a lower learning rate.')
        bar.update(i, [(name, values[name]) for name in SHOWN])
    return values, time.perf_counter() - start


def end_epoch(cfg, run, epoch, values, seconds, steps, held_out):
    """The epoch's line, its checkpoint, then what may fail without costing the epoch: the grids and scores."""
    images_per_second = max(steps - 1, 1) * cfg.batch_size / seconds  # the first step not timed, if there are more
    tf.summary.scalar('speed/images_per_second', images_per_second, step=int(run.steps_done.numpy()))
    print(f'epoch {epoch}/{cfg.epochs}: {seconds:.1f} s, {images_per_second:.0f} images/s, '
          + ', '.join(f'{name} {values[name]:.4g}' for name in SHOWN))
    if cfg.balance_margin is not None:  # the *_skips scalars count this run's skipped updates
        counts = {name: values[f'{name}_skips'] for name in ('discriminator', 'decoder')}
        print('  balance: skipped ' + ', '.join(f'{name} {(n - run.skips.get(name, 0)) / steps:.0%}'
                                                for name, n in counts.items()) + f' of {steps} steps')
        run.skips = counts
    run.epochs_done.assign(epoch)
    overfitting = log_overfitting(cfg, run)
    if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
        save_checkpoint(cfg, run, epoch, held_out)
    if (epoch == 1 or epoch % cfg.sample_every == 0 or epoch == cfg.epochs):
        save_samples(cfg, run.nets.sampling(), held_out, run.sample_z, epoch, int(run.steps_done.numpy()))
    if run.extractors is not None and epoch % cfg.eval_every == 0:  # set when scores are due
        log_scores(cfg, run, epoch, overfitting)  # one record of the epoch holds both
    else:
        best_model.append(cfg.out_dir, {'epoch': epoch, 'step': int(run.steps_done.numpy()),
                                        'overfitting': overfitting})


def save_samples(cfg, nets, held_out, sample_z, epoch, step):
    """The original's grids of held-out originals, their reconstructions and prior samples (op-real/,
    op-recons/, op-gen/; the last two in TensorBoard too). nets: Networks.sampling's."""
    to_uint8 = lambda x: data.to_uint8(cfg, x).numpy()
    name = f'epoch_{epoch:04d}.png'
    reconstructions = to_uint8(models.reconstruct(nets['encoder'], nets['decoder'], held_out))
    generations = to_uint8(nets['decoder'](sample_z, training=False))
    for folder, grid, title in (('op-real', to_uint8(held_out), f'originals, epoch {epoch}'),
                                ('op-recons', reconstructions, f'reconstructions, epoch {epoch}'),
                                ('op-gen', generations, f'epoch {epoch}')):
        path = os.path.join(run_folder.folder(cfg.out_dir, folder), name)  # never via a link
        images.save_image(images.tile(grid), path, title)
    for tag, grid in (('samples/generations', generations), ('samples/reconstructions', reconstructions)):
        tf.summary.image(tag, images.tile(grid)[None], step=step)  # one grid per card, on the scalars' axis


def log_scores(cfg, run, epoch, overfitting):
    """The validation scores to TensorBoard and scores.jsonl (with D's overfitting); the model to best/ when
    they are the best yet."""
    step = int(run.steps_done.numpy())
    scores = best_model.score(cfg, run.nets.sampling(), epoch, step, run.extractors, overfitting)
    for name in ('figure', 'mse', 'ssim'):
        tf.summary.scalar(f'validation/{name}', scores[name], step=step)
    for space, figures in scores['features'].items():
        for name, value in figures.items():
            tf.summary.scalar(f'validation/{space}/{name}', value, step=step)


# ---- D's overfitting, once an epoch on fixed images (Karras et al. 2020, section 3) ---------------------

WATCHED_BATCHES = 4  # batches of each set: MNIST's 1,024 images, CelebA's 512


def watched_images(cfg):
    """(images, z): D's overfitting is measured on the same images every epoch, the first WATCHED_BATCHES
    batches of the train split and of the validation split (else the held-out one: the celeb_a presets), in
    order, unaugmented; and on generations from as many fixed codes z (models.prior_z: the grids' codes first,
    no draw from the training's generators)."""
    first = lambda split: tf.concat(list(data.held_out_dataset(cfg, cfg.batch_size, split).take(WATCHED_BATCHES)), 0)
    images = {'train': first('train'), 'validation': first('validation' if cfg.validation_split or cfg.data_dir
                                                             else 'held_out')}
    return images, models.prior_z(WATCHED_BATCHES * cfg.batch_size, cfg.z_dim, cfg.seed)


def make_d_logits(cfg, nets):
    """d_logits(x, z=None) -> D's logits of the images x and of the generations decoder(z) (None without z), each
    network in training mode as the step runs it (batch statistics; with concat_batches D sees x and the
    generations together, so the caller passes z with every x): D as it trains, as ADA measures it, where
    inference mode's moving statistics mix real and fake batches. By stateless_call: the batch norms' moving
    statistics are read, their updates dropped, so no state changes."""
    forward = lambda net, x: net.stateless_call(net.trainable_variables, net.non_trainable_variables, x,
                                                training=True)[0]

    @tf.function(autograph=False)
    def d_logits(x, z=None):
        if z is None:
            return forward(nets.discriminator, x)[1], None
        generations = forward(nets.decoder, z)
        if cfg.concat_batches:  # the official pass: D on [x, x_p]
            logits = forward(nets.discriminator, tf.concat([x, generations], 0))[1]
            return logits[:tf.shape(x)[0]], logits[tf.shape(x)[0]:]
        return forward(nets.discriminator, x)[1], forward(nets.discriminator, generations)[1]
    return d_logits


def log_overfitting(cfg, run):
    """metrics.overfitting of D's logits on run.watched, batch by batch, to TensorBoard (overfitting/r_t, ...)
    and one line; returns them."""
    start = time.perf_counter()
    (images, z), logits = run.watched, {'train': [], 'validation': [], 'generations': []}
    for name, x in images.items():
        for i in range(0, len(x), cfg.batch_size):
            batch = x[i:i + cfg.batch_size]
            codes = z[i:i + len(batch)] if name == 'train' or cfg.concat_batches else None  # generations once
            real, generated = run.d_logits(batch, codes)
            logits[name].append(real)
            if name == 'train':
                logits['generations'].append(generated)
    figures = metrics.overfitting(**{name: tf.concat(parts, 0).numpy() for name, parts in logits.items()},
                                  neutral=neutral_logit(cfg))
    for name, value in figures.items():
        tf.summary.scalar(f'overfitting/{name}', value, step=int(run.steps_done.numpy()))
    print(f"  overfitting: r_t {figures['r_t']:.3f}, r_v {figures['r_v']:.3f}; D's mean logit on training images "
          f"{figures['train']:.3f}, validation {figures['validation']:.3f}, generations {figures['generations']:.3f} "
          f"({time.perf_counter() - start:.1f} s)")
    return figures


def save_checkpoint(cfg, run, epoch, held_out):
    """A checkpoint of the run, unless its state cannot go on (then one line, nothing saved)."""
    if not bool(run.all_finite(held_out)):
        kept = checkpoints.newest_intact(run_folder.checkpoint_folder(cfg.out_dir))[0]
        sys.exit(f'error: after epoch {epoch} (step {int(run.steps_done.numpy())}) the weights, or the losses '
                 f'they give, are not finite: not saved; the run stays at {kept or "its start (no checkpoint)"}. '
                 f'Try a lower learning rate.')
    checkpoints.save(run.checkpoint, run_folder.checkpoint_folder(cfg.out_dir), epoch)


def main(argv):
    cfg = None  # the run's settings once read: where a stop or a failed write leaves the run
    with run_folder.guarded('vae_gan.py', argv, lambda: cfg and cfg.out_dir, newest=checkpoints.newest):
        cfg, settings = configurator.for_training(configurator.parse_overrides(argv))  # config.py + flags
        print(settings)
        train(cfg, STARTED if __name__ == '__main__' else None)  # a script's clock runs from its start


if __name__ == '__main__':
    run_folder.run_script(main, sys.argv[1:])
