"""Train VAE/GAN (Larsen et al. 2016) as the original TensorFlow 1 repo does (PrateekMunjal/VAE_GAN):

    python vae_gan.py                                 # config.py's preset (PRESET: mnist) into MNIST/
    python vae_gan.py --preset=celeb_a --epochs=5     # any config.py field as --field=value
    python vae_gan.py --data_dir=my_pictures --out_dir=runs/mine --preset=celeb_a --crop_fraction=1
    TFDS_DATA_DIR=~/tensorflow_datasets python vae_gan.py   # offline, from a prepared tensorflow-datasets copy

Common flags (every field of config.py's Config is one; config.py says what each does and why):
    --preset=NAME     mnist, mnist_sigmoid, fashion_mnist, cifar10, celeb_a or celeb_a_paper
    --out_dir=DIR     the run's folder: a new one starts a run, a run's goes on from its newest checkpoint
    --epochs=N        train until N epochs are done
    --data_dir=DIR    a folder of your own images instead of tensorflow-datasets
    --image_size=N    the images' side as the networks see it (celeb_a: a multiple of 8); --channels=1|3
    --z_dim=N, --batch_size=N, --lr_decoder=X, --kl_weight=...   the hyperparameters
    --eval_every=N    epochs between validation scores, which keep the best model in best/; 0 = none
    --mixed_precision=bfloat16   faster on CPUs with AVX512-BF16
Every start takes config.py's preset with the command's flags on top, so an edit to config.py takes
effect when a run goes on; a run keeps its networks, data and seed (a change to one is refused).

Top to bottom: each network's objective (the losses are in models.py); the original's step (the
discriminator D, then the encoder, then the decoder) and the official code's one-pass step, one of them chosen when the step is built; then the
run: build, resume, and for each epoch the steps, the log, the grids, the validation scores (best/ keeps
the best model, best_model.py) and a checkpoint. optim.py holds the machinery under the step,
run_folder.py what keeps out_dir whole. Writes checkpoints/, best/, logs/, op-*/, scores.jsonl and
config.json into out_dir; the same command resumes from the newest intact checkpoint. Epochs count from 1.
"""
import concurrent.futures
import dataclasses
import functools
import itertools
import os
import sys
import tempfile
import time

import configurator  # noqa: E402  (pure Python: the flags are checked before TensorFlow loads)
import run_folder  # noqa: E402

STARTED = run_folder.start(__name__, __doc__, lambda argv: run_folder.for_training(configurator.parse_overrides(argv)))
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import best_model
import checkpoints
import data
import images
import models
import optim
from configurator import UsageError

UPDATE_ORDER = ('discriminator', 'encoder', 'decoder')  # the original's order within a step


# ---- Each network's objective, from one forward pass's outputs ------------------------------------

def discriminator_objective(cfg, logit_x, logit_x_p, logit_x_tilde=None, r1=None):
    """{'discriminator_loss': L_D (the original's MNIST/vae-gan.py:166-168), ...}. The fakes D judges:
    reconstructions x~ and prior samples x_p (the original), or x_p alone with discriminate_recon off
    (the official code). r1 (models.discriminate_real's penalty, with r1_gamma) adds r1_gamma / 2 * R1."""
    fakes = [logit_x_tilde, logit_x_p] if cfg.discriminate_recon else [logit_x_p]
    offset = cfg.gan_log_offset
    scalars = {'discriminator_loss': models.discriminator_loss(logit_x, fakes, cfg.real_vs_gen_weight, offset),
               'real_cost': tf.reduce_mean(models.neg_log_d(logit_x, offset)),  # -log D(x), the balance rule's input
               'fake_cost': tf.reduce_mean(models.neg_log_not_d(logit_x_p, offset)),  # -log(1 - D(x_p)): x_p
               #   only, never x~ (the official balance rule's input, model/aegan.py)
               'd_x': tf.reduce_mean(tf.sigmoid(logit_x)), 'd_x_p': tf.reduce_mean(tf.sigmoid(logit_x_p))}
    if logit_x_tilde is not None:
        scalars['d_x_tilde'] = tf.reduce_mean(tf.sigmoid(logit_x_tilde))
    if r1 is not None:  # a penalty on D's slope at the real images (Mescheder et al. 2018)
        scalars.update(r1=r1, discriminator_loss=scalars['discriminator_loss'] + cfg.r1_gamma / 2 * r1)
    return scalars


def encoder_objective(cfg, mean, sigma, dis_l_x, dis_l_x_tilde, kl_weight):
    """{'encoder_loss': kl_weight * KL + gamma_enc * Dis_l (the original's MNIST/vae-gan.py:193), ...}: the prior plus
    the learned similarity."""
    kl = models.kl_loss(mean, sigma)
    loss = kl_weight * kl + cfg.gamma_enc * models.dis_l_loss(dis_l_x_tilde, dis_l_x, cfg.dis_l_likelihood)
    return {'encoder_loss': loss, 'kl': kl, 'kl_weight': kl_weight}


def decoder_objective(cfg, dis_l_x, dis_l_x_tilde, logit_x_tilde, logit_x_p, gan=None):
    """{'decoder_loss': ..., 'dis_l', 'gan'}: the learned similarity plus fooling D with x~ (unless
    discriminate_recon is off) and x_p. gamma_dec * Dis_l + GAN (the original's MNIST/vae-gan.py:181), or with recon_vs_gan_weight w: w * Dis_l + (1 - w) * GAN (the official code). gan: given by
    the official one-pass step, else from the fakes' logits."""
    dis_l = models.dis_l_loss(dis_l_x_tilde, dis_l_x, cfg.dis_l_likelihood)
    fakes = [logit_x_tilde, logit_x_p] if cfg.discriminate_recon else [logit_x_p]
    gan = models.decoder_gan_loss(fakes, cfg.gan_loss, cfg.gan_log_offset) if gan is None else gan
    w = cfg.recon_vs_gan_weight
    loss = cfg.gamma_dec * dis_l + gan if w is None else w * dis_l + (1 - w) * gan
    return {'decoder_loss': loss, 'dis_l': dis_l, 'gan': gan}


# ---- The original's step: discriminator, then encoder, then decoder -------------------------------------------------------

def encode_decode(nets, x, noise, stream):
    """(mean, sigma, x~): the encoder's q(z|x), a z drawn from it, and its decoding."""
    mean, sigma = nets.encoder(x, training=True)
    z = mean + sigma * noise(tf.shape(sigma), stream)  # the reparameterisation trick
    return mean, sigma, nets.decoder(z, training=True)


def prior_sample(cfg, nets, x, noise, stream):
    """x_p = decoder(z_p), z_p ~ N(0, I): one per row of x."""
    return nets.decoder(noise([tf.shape(x)[0], cfg.z_dim], stream), training=True)


def original_step(cfg, nets, batches, kl_weight, noise, learn):
    """The original's step (update='sequential', the default): one D update, then one encoder update,
    then one decoder update (the original's MNIST/vae-gan.py:300, 309, 318 and Celeb-A/vae-gan.py:402,
    410, 419). Each network's loss comes from a fresh forward pass with the weights as they are now, so
    the encoder sees the D just updated, the decoder the new D and encoder. Returns the step's scalars.

    batches: (x_d, x_e, x_g), one per network: the same batch three times (the original's MNIST
    script) or three fresh ones (fresh_batches, its CelebA script). noise(shape, stream) draws
    N(0, I); streams 0-4 keep each draw of a step apart. learn (optim.Learner): learn.gradients(name,
    loss_fn) differentiates loss_fn()'s f'{name}_loss' under a tape, learn.apply(name, grads, allowed)
    moves the weights; the L2 penalty, the replicas, loss scaling, XLA and histograms live there."""
    x_d, x_e, x_g = batches

    def discriminator_loss():  # D tells real x from prior samples x_p and (with discriminate_recon) reconstructions x~
        x_tilde = encode_decode(nets, x_d, noise, stream=0)[2] if cfg.discriminate_recon else None
        x_p = prior_sample(cfg, nets, x_d, noise, stream=1)
        _, logit_x, r1 = models.discriminate_real(nets.discriminator, x_d, r1=cfg.r1_gamma > 0)
        _, logit_x_p = nets.discriminator(x_p, training=True)
        logit_x_tilde = None if x_tilde is None else nets.discriminator(x_tilde, training=True)[1]
        return discriminator_objective(cfg, logit_x, logit_x_p, logit_x_tilde, r1)

    def encoder_loss():  # the KL to the prior plus the learned similarity in D's feature space
        mean, sigma, x_tilde = encode_decode(nets, x_e, noise, stream=2)
        dis_l_x, _ = nets.discriminator(x_e, training=True)
        dis_l_x_tilde, _ = nets.discriminator(x_tilde, training=True)
        return encoder_objective(cfg, mean, sigma, dis_l_x, dis_l_x_tilde, kl_weight)

    def decoder_loss():  # the learned similarity plus fooling D with x~ and x_p
        _, _, x_tilde = encode_decode(nets, x_g, noise, stream=3)
        x_p = prior_sample(cfg, nets, x_g, noise, stream=4)
        dis_l_x, _ = nets.discriminator(x_g, training=True)
        _, logit_x_p = nets.discriminator(x_p, training=True)
        dis_l_x_tilde, logit_x_tilde = nets.discriminator(x_tilde, training=True)
        return decoder_objective(cfg, dis_l_x, dis_l_x_tilde, logit_x_tilde, logit_x_p)

    # 1. D: L_D on real x against x~ and x_p. The balance rule (balance_margin; None: off, both always
    # update) reads D's costs on this pass: D skips its update while it wins, the decoder while it loses.
    scalars_d, grads = learn.gradients('discriminator', discriminator_loss)
    update_d, update_g = models.balance(scalars_d, cfg.equilibrium, cfg.balance_margin)
    learn.apply('discriminator', grads, allowed=update_d)
    # 2. The encoder: kl_weight KL + gamma_enc Dis_l, against the D just updated.
    scalars_e, grads = learn.gradients('encoder', encoder_loss)
    learn.apply('encoder', grads)
    # 3. The decoder: gamma_dec Dis_l + GAN, against the new D and encoder.
    scalars_g, grads = learn.gradients('decoder', decoder_loss)
    learn.apply('decoder', grads, allowed=update_g)
    return {**scalars_d, **scalars_e, **scalars_g}


def sequential_gradients(cfg, nets, x, kl_weight, noise):
    """(scalars, {network: gradients}) of original_step's three passes on batch x (or fresh_batches'
    three) with no weight changed: each network's gradient against the weights of before the step, as
    one_pass returns them (the tests compare the two, and each with the original's formulas)."""
    kept = {}

    class Keep(optim.Learner):
        def apply(self, name, grads, allowed=None):
            kept[name] = grads

    learn = Keep(nets, cfg.kernel_l2, jit_compile=False, steps_done=None)
    return original_step(cfg, nets, data.split_batches(cfg, x), kl_weight, noise, learn), kept


# ---- The official code's one-pass step --------------------------------------------------------------

def one_pass(cfg, nets, x, kl_weight, noise):
    """All three objectives from one forward pass, so the encoder and decoder see the D of before this step's update
    (as the PyTorch ports, and the official code). With concat_batches, the official step [model/aegan.py:
    57-119]: D runs once on [x, x_p] and Dis_l once on [x~, x], reals and fakes sharing batch-norm
    statistics; the Dis_l target passes no gradient back (NLLNormal.bprop, model/ae.py:24-28); and with
    the saturating form the decoder steps along minus D's whole loss, whose real rows depend on x_p through
    those statistics (decoder_neggrad, aegan.py:29-33). Returns (scalars, {network: gradients})."""
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
        scalars = discriminator_objective(cfg, logit_x, logit_x_p, logit_x_tilde)
        official = cfg.concat_batches and cfg.gan_loss == 'saturating' and not cfg.discriminate_recon  # the decoder: -L_D / w_fake
        gan = -scalars['discriminator_loss'] / (1 - (cfg.real_vs_gen_weight or 0)) if official else None
        scalars.update(**encoder_objective(cfg, mean, sigma, dis_l_x, dis_l_x_tilde, kl_weight),
                       **decoder_objective(cfg, dis_l_x, dis_l_x_tilde, logit_x_tilde, logit_x_p, gan))
    return scalars, {name: optim.gradients_with_l2(tape, scalars[f'{name}_loss'], nets, name, cfg.kernel_l2)
                     for name in UPDATE_ORDER}


def one_pass_step(cfg, nets, batches, kl_weight, noise, learn):
    """update='simultaneous': one forward and backward pass (XLA-compiled with jit_compile), then each
    network steps, none seeing another's update (the official code [model/aegan.py:57-119, 181-205] and
    the PyTorch ports). One batch: batches holds it three times (fresh_batches is refused here)."""
    scalars, grads = learn.run(lambda: one_pass(cfg, nets, batches[0], kl_weight, noise))
    update_d, update_g = models.balance(scalars, cfg.equilibrium, cfg.balance_margin)
    for name, allowed in zip(UPDATE_ORDER, (update_d, None, update_g)):
        learn.apply(name, grads[name], allowed)
    return scalars


def make_train_step(cfg, nets, steps_done, nonfinite_step, gradients=None):
    """train_step(x, epoch) -> dict of scalars: original_step (update='sequential') or one_pass_step
    ('simultaneous'), chosen here once. x is a batch, or with cfg.fresh_batches a tuple of three (per
    replica under a strategy). Each call adds 1 to `steps_done`; the first step whose losses are not
    finite goes to `nonfinite_step`. With jit_compile, XLA compiles each pass; the updates stay outside.
    gradients (optim.gradient_copies): where the steps due a histogram keep their gradients."""
    strategy = tf.distribute.get_strategy()
    noise = optim.make_noise(cfg.seed, steps_done)  # depends on (seed, step, stream, row) only
    learn = optim.Learner(nets, cfg.kernel_l2, cfg.jit_compile, steps_done, gradients, cfg.histogram_every)
    step = original_step if cfg.update == 'sequential' else one_pass_step

    def replica_step(x, epoch):
        batches = data.split_batches(cfg, x)  # (x_d, x_e, x_g)
        kl_weight = models.kl_weight(cfg.kl_weight, epoch, tf.shape(batches[1])[0] * strategy.num_replicas_in_sync,
                                     cfg.z_dim)  # '1/batch': the global batch's size
        return {**step(cfg, nets, batches, kl_weight, noise, learn), **learn.skip_counts()}

    @tf.function(autograph=False)  # its Python branches are on settings, never on tensors: a third less tracing
    def train_step(x, epoch):
        step_number = steps_done.assign_add(1)  # counted from 1 (optimizers may skip steps)
        per_replica = strategy.run(replica_step, args=(x, epoch))
        scalars = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}
        finite = tf.reduce_all(tf.math.is_finite(tf.stack([scalars[f'{name}_loss'] for name in UPDATE_ORDER])))
        nonfinite_step.assign(tf.where(finite | (nonfinite_step >= 0), nonfinite_step, step_number))
        if nets.averages:  # ema_decay: the weights' average for sampling, after every update of the step
            optim.update_averages(nets, cfg.ema_decay, step_number)
        return scalars

    return train_step


# ---- Building a run: the networks, counters, the step and the checkpoint ------------------------------

def write_histograms(nets, gradients, step):
    """The original's histograms of every weight and of the gradient of the last step due one
    (make_train_step keeps those in `gradients`): no separate pass, nothing traced. Tags name each
    weight by its network and its layer's place in it (discriminator/00_conv2d/kernel), not by
    Keras' process-wide layer counters."""
    for name, copies in gradients.items():
        for var, grad in zip(nets[name].trainable_variables, copies):
            label = layer_names(nets[name])[id(var)]
            tf.summary.histogram(f'{name}/{label}', var, step=step)
            tf.summary.histogram(f'{name}/{label}/gradient', grad, step=step)


@functools.cache
def layer_names(network):
    """{id(weight): '<index>_<layer kind>/<weight>'} for a network's trainable weights."""
    weighted = [layer for layer in network.layers if layer.trainable_weights]
    return {id(var): f'{i:02d}_{type(layer).__name__.lower()}/{var.name}'
            for i, layer in enumerate(weighted) for var in layer.trainable_weights}


@dataclasses.dataclass
class Run:
    """What a training run holds between its phases."""
    strategy: tf.distribute.Strategy
    is_chief: bool  # only the chief writes grids, logs, config.json and the kept checkpoints
    nets: optim.Networks
    train_step: object  # make_train_step's tf.function
    gradients: dict  # the histograms' gradients (optim.gradient_copies), {} without histograms
    all_finite: object  # checkpoints.make_finite_check's: worth saving?
    checkpoint: tf.train.Checkpoint
    save_dir: str  # the chief's out_dir/checkpoints; a worker's temporary folder
    epochs_done: tf.Variable
    steps_done: tf.Variable
    nonfinite_step: tf.Variable  # -1 while every loss is finite
    sample_z: tf.Variable  # the op-gen/ grids' latent, fixed for the whole run
    extractors: dict = None  # metrics.feature_extractors, loaded when this run scores (eval_every)
    skips: dict = dataclasses.field(default_factory=dict)  # balance-rule skips counted at the last epoch's end


def build(cfg):
    """The strategy, the networks and optimizers, the counters, the step and the checkpoint. Reads
    and writes nothing in out_dir."""
    strategy, is_chief = optim.make_strategy(cfg)  # first: MultiWorkerMirroredStrategy must precede other ops
    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy(configurator.PRECISIONS[cfg.mixed_precision])
    grid_z = models.prior_z(images.GRID, cfg.z_dim, cfg.seed).numpy()  # drawn outside the scope: no mirroring
    with strategy.scope():
        nets = optim.build_networks(cfg)
        sample_z = tf.Variable(grid_z, trainable=False)
        epochs_done, steps_done, nonfinite_step = (tf.Variable(value, dtype=tf.int64, trainable=False)
                                                   for value in (0, 0, -1))
        # Histograms on the chief's one device only: the gradients of one replica's batch.
        histograms = cfg.histogram_every and strategy.num_replicas_in_sync == 1 and is_chief
        gradients = optim.gradient_copies(nets) if histograms else {}
        train_step = make_train_step(cfg, nets, steps_done, nonfinite_step, gradients)
    checkpoint = tf.train.Checkpoint(
        encoder=nets.encoder, decoder=nets.decoder, discriminator=nets.discriminator,
        **{f'{name}_optimizer': optim.unscaled(nets.optimizers[name]) for name in UPDATE_ORDER},
        epoch=epochs_done, step=steps_done, sample_z=sample_z,
        **{f'{name}_average': average for name, average in nets.averages.items()})
    # Every worker saves (saving is collective); all but the chief into a folder deleted afterwards.
    save_dir = run_folder.checkpoint_folder(cfg.out_dir) if is_chief else tempfile.mkdtemp(prefix='vae_gan_worker_')
    return Run(strategy, is_chief, nets, train_step, gradients, checkpoints.make_finite_check(nets, sample_z),
               checkpoint, save_dir, epochs_done, steps_done, nonfinite_step, sample_z)


# ---- The run: build, resume, then for each epoch the steps, the log, the samples and a checkpoint ----

def train(cfg, started=None):
    """Trains cfg's run into out_dir, going on from its newest intact checkpoint. started: the
    perf_counter() of the command's start, for the start-up line (None: now)."""
    loaded = f'TensorFlow loaded in {time.perf_counter() - started:.1f} s, ' if started else ''
    started = started or time.perf_counter()
    run = build(cfg)
    with run_folder.locked(cfg.out_dir, run.is_chief, scratch=None if run.is_chief else run.save_dir):
        done = resume(cfg, run)
        if done >= cfg.epochs:
            print(f'{cfg.out_dir} already holds {done} epochs; nothing to do (raise --epochs to go on)')
            return
        batches, steps, held_out, timings = inputs(cfg, run, done)
        run.extractors = best_model.start(cfg, done) if run.is_chief else None  # scores due: their networks
        writer = start_outputs(cfg, run)  # only now, once nothing can fail on bad input, is out_dir written
        print(f'training {cfg.preset} epochs {done + 1}..{cfg.epochs}, {steps} step{"s" * (steps != 1)} of '
              f'{cfg.batch_size} images{" per network" if cfg.fresh_batches else ""} each, into {cfg.out_dir}')
        print(f'started in {time.perf_counter() - started:.1f} s: {loaded}{timings}')
        try:
            with writer.as_default():
                for epoch in range(done + 1, cfg.epochs + 1):
                    values, seconds = train_epoch(cfg, run, batches, steps, epoch)  # the steps, logged as they go
                    end_epoch(cfg, run, epoch, values, seconds, steps, held_out)  # grids, scores, checkpoint
                    writer.flush()
        finally:
            writer.close()  # what was logged reaches the disk, however the run ends
        print(f'done: {cfg.epochs} epochs in {cfg.out_dir}; render them with '
              f'`{run_folder.command("vae_gan_inference.py")} --out_dir={cfg.out_dir}`')


def resume(cfg, run):
    """Restores the newest intact checkpoint in out_dir, if any (checkpoints.py sets damaged ones
    aside); returns the epochs done, 0 for a new run."""
    saved = configurator.run_config(cfg.out_dir)
    if saved:  # another z_dim, say, is refused before anything is touched
        configurator.check_same_model(cfg.out_dir, saved,
                                      {field: getattr(cfg, field) for field in configurator.ARCH_FIELDS})
    latest = checkpoints.restore_newest(run.checkpoint, run_folder.checkpoint_folder(cfg.out_dir),
                                        rename_damaged=run.is_chief)
    if latest:
        print(f'resuming from {latest}: {int(run.epochs_done.numpy())} epoch{"s" * (int(run.epochs_done.numpy()) != 1)} done')
    if run.is_chief:  # the scores of the epochs to be redone go; best/ stays
        best_model.forget_after(cfg.out_dir, int(run.epochs_done.numpy()))
    return int(run.epochs_done.numpy())


def inputs(cfg, run, done):
    """(batches, steps per epoch, the grids' held-out originals, a line of what start-up took); a
    resumed run reshuffles, by the seed. The step is traced while the pipeline makes its first batch
    (MNIST's fills a shuffle buffer of the whole training set): the two take the two cores at once."""
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


def start_outputs(cfg, run):
    """The grid folders and config.json (the chief's); returns the TensorBoard writer."""
    if not run.is_chief:
        return tf.summary.create_noop_writer()
    for sub in ('op-real', 'op-recons', 'op-gen'):
        os.makedirs(os.path.join(cfg.out_dir, sub), exist_ok=True)
    run_folder.write_json(configurator.config_file(cfg.out_dir), dataclasses.asdict(cfg))
    # config.py's preset as this start read it: the next start tells an edit of config.py by it
    run_folder.write_json(os.path.join(cfg.out_dir, run_folder.PRESET_FILE),
                     dataclasses.asdict(configurator.PRESETS[cfg.preset]))
    return tf.summary.create_file_writer(os.path.join(cfg.out_dir, 'logs'))


SHOWN = ('discriminator_loss', 'encoder_loss', 'decoder_loss', 'kl_weight')  # on the progress bar
# TensorBoard's tags, grouped: each network's loss together, then what each network's objective holds
GROUPS = {'discriminator_loss': 'loss/discriminator', 'encoder_loss': 'loss/encoder', 'decoder_loss': 'loss/decoder',
          'kl': 'encoder/kl', 'kl_weight': 'encoder/kl_weight', 'dis_l': 'decoder/dis_l', 'gan': 'decoder/gan'}


def tag(name):
    """A step's scalar as TensorBoard shows it: loss/..., encoder/..., decoder/..., and the rest (D(x),
    the balance rule's costs and skips, R1) under discriminator/."""
    return GROUPS.get(name, f'discriminator/{name}')


def train_epoch(cfg, run, batches, steps, epoch):
    """One epoch of steps: TensorBoard scalars and the progress bar every log_every steps, histograms
    every histogram_every. Returns (the last logged values, seconds from the end of the first step, or of
    the whole epoch if it has one step)."""
    for name, lr in optim.learning_rates(cfg, epoch).items():
        optim.unscaled(run.nets.optimizers[name]).learning_rate = lr
    histogram_every = cfg.histogram_every if run.gradients else 0
    # a live bar on a terminal; in a log file the epoch's summary line says it all
    bar = keras.utils.Progbar(steps, stateful_metrics=SHOWN, verbose=1 if sys.stdout.isatty() else 0)
    epoch_tensor = tf.constant(epoch, tf.float32)
    step = int(run.steps_done.numpy())  # over all runs of out_dir
    start = time.perf_counter()  # (an epoch of one step is timed from before it)
    for i in range(1, steps + 1):
        run_folder.stop_if_asked()  # a Ctrl-C whose exception was lost on the way stops here
        scalars = run.train_step(next(batches), epoch_tensor)
        if histogram_every and step % histogram_every == 0:  # this step kept its gradients
            write_histograms(run.nets, run.gradients, step)
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
    """The epoch's line (images/s: batch_size a step), then the grids, the scores and the checkpoint."""
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
    if run.is_chief and (epoch == 1 or epoch % cfg.sample_every == 0 or epoch == cfg.epochs):
        save_samples(cfg, run.nets.sampling(), held_out, run.sample_z, epoch, int(run.steps_done.numpy()))
    if run.extractors is not None and epoch % cfg.eval_every == 0:  # set on the chief when scores are due
        log_scores(cfg, run, epoch)
    if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
        save_checkpoint(cfg, run, epoch, held_out)


def save_samples(cfg, nets, held_out, sample_z, epoch, step):
    """The original's grids: held-out originals, their reconstructions, prior samples. nets: {'encoder',
    'decoder'} (Networks.sampling: the weights' averages with ema_decay)."""
    to_uint8 = lambda x: data.to_uint8(cfg, x).numpy()
    name = f'epoch_{epoch:04d}.png'
    images.save_grid(to_uint8(held_out), os.path.join(cfg.out_dir, 'op-real', name), f'originals, epoch {epoch}')
    images.save_grid(to_uint8(models.reconstruct(nets['encoder'], nets['decoder'], held_out)),
                     os.path.join(cfg.out_dir, 'op-recons', name), f'reconstructions, epoch {epoch}')
    generations = to_uint8(nets['decoder'](sample_z, training=False))
    images.save_grid(generations, os.path.join(cfg.out_dir, 'op-gen', name), f'epoch {epoch}')
    tf.summary.image('samples/generations', generations[:9], step=step, max_outputs=9)  # the scalars' axis


def log_scores(cfg, run, epoch):
    """The validation scores (FID, KID, precision and recall in each feature space, MSE, SSIM) to
    TensorBoard (eval/...) and scores.jsonl; the model to best/ when they are the best yet."""
    step = int(run.steps_done.numpy())
    scores = best_model.score(cfg, run.nets.sampling(), epoch, step,
                              run.extractors)
    for name, value in [(name, scores[name]) for name in ('figure', 'mse', 'ssim')] + [
            (f'{space}/{name}', value) for space, figures in scores['features'].items() for name, value in figures.items()]:
        tf.summary.scalar(f'eval/{name}', value, step=step)


def save_checkpoint(cfg, run, epoch, held_out):
    """A checkpoint of the run, unless its state cannot go on (then one line, nothing saved)."""
    if not bool(run.all_finite(held_out)):
        kept = checkpoints.latest(run.save_dir) if run.is_chief else None
        sys.exit(f'error: after epoch {epoch} (step {int(run.steps_done.numpy())}) the weights, or the losses '
                 f'they give, are not finite: not saved; the run stays at {kept or "its start (no checkpoint)"}. '
                 f'Try a lower learning rate.')
    if run.is_chief:
        checkpoints.save(run.checkpoint, run.save_dir, epoch)
    else:  # saving is collective: a worker writes too, into a folder deleted afterwards
        run.checkpoint.write(os.path.join(run.save_dir, f'ckpt-{epoch}'))


def main(argv):
    cfg = None  # the run's settings once read: where a stop or a failed write leaves the run
    with run_folder.guarded('vae_gan.py', argv, lambda: cfg and cfg.out_dir, newest=checkpoints.newest):
        cfg, settings = run_folder.for_training(configurator.parse_overrides(argv))  # config.py + flags
        print(settings)
        train(cfg, STARTED if __name__ == '__main__' else None)  # a script's clock runs from its start


if __name__ == '__main__':
    run_folder.run_script(main, sys.argv[1:])
