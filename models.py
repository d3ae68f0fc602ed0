"""The three networks of VAE/GAN as the original TensorFlow 1 repo (PrateekMunjal/VAE_GAN) builds them,
and the losses vae_gan.py's step writes with them. `arch`: 'mnist' (28x28x1, pixels in [0, 1]), 'celeb_a'
(64x64x3 or any multiple of 8, pixels in [-1, 1]) or 'paper', the official code's networks
(andersbll/autoencoding_beyond_pixels; its files in brackets).

    encoder(x)       -> [mean, sigma]   sigma > 0, used directly as the standard deviation: a softplus
                                        (mnist, celeb_a) or exp(logvar / 2) (paper)
    decoder(z)       -> x               sigmoid (mnist) or tanh (celeb_a, paper) output
    discriminator(x) -> [dis_l, logit]  dis_l = the learned similarity's features; D(x) = sigmoid(logit)

D returns a logit, not the original's sigmoid probability, so the losses can use the stable sigmoid
cross-entropy.
"""
import dataclasses

import keras
import tensorflow as tf
from keras import layers

INFERENCE_BATCH = 500  # images per call when rendering or scoring: 10,000 generations take seconds on a CPU


def _kernel_init(cfg):
    # celeb_a: truncated normal, stddev 0.02 (the original's Celeb-A/vae-gan.py); mnist: TF1's default, Glorot
    # uniform; paper: DeepPy's AutoFiller, uniform in +-1/sqrt(3 fan_in) [deeppy/filler.py:70-86], which is
    # Keras' fan-in variance scaling with scale 1/9 (a transposed conv's fan-in: its output channels, as DeepPy's).
    if cfg.kernel_init == 'autofiller':
        return keras.initializers.VarianceScaling(scale=1 / 9, mode='fan_in', distribution='uniform')
    if cfg.init_stddev:
        return keras.initializers.TruncatedNormal(stddev=cfg.init_stddev)
    return 'glorot_uniform'


def _batch_norm(cfg, **options):
    # Under tf.distribute, statistics over the global batch, as on one device.
    return layers.BatchNormalization(synchronized=cfg.strategy != 'default', **options)


def _leaky(x):
    return layers.LeakyReLU(negative_slope=0.2)(x)  # tf.nn.leaky_relu's 0.2 (Keras' default is 0.3)


def _conv_stack(cfg, x, batch_norm):
    """The shared conv trunk of the encoder and D. Returns the last feature map."""
    init = _kernel_init(cfg)
    if cfg.arch == 'mnist':
        # 28x28x1 -> 14x14x16 -> 7x7x32 -> 4x4x64; the encoder: leaky, leaky, ReLU, each *then* batch norm;
        # D: leaky ReLU throughout, no batch norm.
        for i, filters in enumerate((16, 32, 64)):
            x = layers.Conv2D(filters, 3, strides=2, padding='same', kernel_initializer=init)(x)
            x = layers.ReLU()(x) if (batch_norm and i == 2) else _leaky(x)
            if batch_norm:
                x = _batch_norm(cfg)(x)
        return x
    # celeb_a: 64x64x3 -> 32x32x64 -> 16x16x128 -> 8x8x256 -> 8x8x512 (5x5 kernels; the last conv has
    # stride 1), each conv -> batch norm -> ReLU, in the encoder and D alike.
    for filters, stride in ((64, 2), (128, 2), (256, 2), (512, 1)):
        x = layers.Conv2D(filters, 5, strides=stride, padding='same', kernel_initializer=init)(x)
        x = _batch_norm(cfg)(x)
        x = layers.ReLU()(x)
    return x


def _paper_conv(cfg, x, filters, stride, transpose=False):
    """The official stride-2 conv: 5x5, no bias [architectures.py:21-37], padded 2 on every side as DeepPy's
    'same' [deeppy/expr/nnet/spatial.py:7-16] (TensorFlow's pads 1 before, 2 after: a grid one pixel off).
    Transposed: DeepPy's BackwardConvolution [spatial.py:86-129], a 'valid' one (n -> 2n + 3) cropped 2
    before, 1 after."""
    conv = dict(kernel_size=5, strides=stride, padding='valid', use_bias=False, kernel_initializer=_kernel_init(cfg))
    if transpose:
        return layers.Cropping2D(((2, 1), (2, 1)))(layers.Conv2DTranspose(filters, **conv)(x))
    return layers.Conv2D(filters, **conv)(layers.ZeroPadding2D(2)(x))


def _paper_bn_relu(cfg, x, epsilon=1e-6):
    # batch norm with the official momentum 0.9 and epsilon 1e-6 after convs [architectures.py:174-241];
    # after dense layers DeepPy's default, 1e-5 [deeppy/expr/nnet/batch_normalization.py:14]; then ReLU
    return layers.ReLU()(_batch_norm(cfg, momentum=0.9, epsilon=epsilon)(x))


def build_encoder(cfg):
    """The encoder: x -> [mean, sigma] of q(z|x)."""
    x = keras.Input((cfg.image_size, cfg.image_size, cfg.channels), name='x')
    if cfg.arch == 'paper':
        # 64x64x3 -> 32x32x64 -> 16x16x128 -> 8x8x256 -> dense 1024 -> mean and log-variance;
        # sigma = exp(logvar / 2) [architectures.py, model/ae.py]
        h = x
        for filters in (64, 128, 256):
            h = _paper_bn_relu(cfg, _paper_conv(cfg, h, filters, 2))
        h = layers.Flatten()(h)
        h = _paper_bn_relu(cfg, layers.Dense(1024, use_bias=False, kernel_initializer=_kernel_init(cfg))(h), 1e-5)
        mean = layers.Dense(cfg.z_dim, kernel_initializer=_kernel_init(cfg), name='mean', dtype='float32')(h)
        logvar = layers.Dense(cfg.z_dim, kernel_initializer=_kernel_init(cfg), name='logvar', dtype='float32')(h)
        half = layers.Rescaling(0.5, dtype='float32')(logvar)
        sigma = layers.Activation('exponential', name='sigma', dtype='float32')(half)
        return keras.Model(x, [mean, sigma], name='encoder')
    h = layers.Flatten()(_conv_stack(cfg, x, batch_norm=True))  # mnist 1024, celeb_a 32768 features
    init = _kernel_init(cfg)
    # float32 heads, also under mixed precision: the KL needs their precision
    mean = layers.Dense(cfg.z_dim, kernel_initializer=init, name='mean', dtype='float32')(h)
    sigma = layers.Dense(cfg.z_dim, activation='softplus', kernel_initializer=init, name='sigma', dtype='float32')(h)
    return keras.Model(x, [mean, sigma], name='encoder')


def build_decoder(cfg):
    """The decoder: z -> x, an image (no pixel likelihood: its loss is Dis_l's and the GAN's)."""
    z = keras.Input((cfg.z_dim,), name='z')
    init = _kernel_init(cfg)
    if cfg.arch == 'paper':
        # z -> 8x8x256 -> 16x16x256 -> 32x32x128 -> 64x64x32 (5x5 stride-2 transposed convs, batch
        # norm, ReLU) -> 64x64x3 (a 5x5 stride-1 conv), tanh [architectures.py]
        base = cfg.image_size // 8
        h = _paper_bn_relu(cfg, layers.Dense(base * base * 256, use_bias=False, kernel_initializer=init)(z), 1e-5)
        h = layers.Reshape((base, base, 256))(h)
        for filters in (256, 128, 32):
            h = _paper_bn_relu(cfg, _paper_conv(cfg, h, filters, 2, transpose=True))
        x = layers.Conv2D(cfg.channels, 5, padding='same', activation='tanh', kernel_initializer=init)(h)
        return keras.Model(z, x, name='decoder')
    if cfg.arch == 'mnist':
        # z -> 4x4x64 (tanh) -> 8x8x32 -> 16x16x16 -> 32x32x1 (each leaky ReLU, then batch norm)
        # -> flatten -> dense 784, sigmoid -> 28x28x1.
        h = layers.Dense(4 * 4 * 64, activation='tanh', kernel_initializer=init)(z)
        h = layers.Reshape((4, 4, 64))(h)
        for filters in (32, 16, 1):
            h = layers.Conv2DTranspose(filters, 3, strides=2, padding='same', kernel_initializer=init)(h)
            h = _batch_norm(cfg)(_leaky(h))
        h = layers.Flatten()(h)
        size = cfg.image_size * cfg.image_size * cfg.channels
        h = layers.Dense(size, activation='sigmoid', kernel_initializer=init)(h)
        x = layers.Reshape((cfg.image_size, cfg.image_size, cfg.channels))(h)
    else:
        # z -> 8x8x512 (dense, batch norm, ReLU) -> 16x16x256 -> 32x32x128 -> 64x64x64 (5x5 stride-2
        # transposed convs, batch norm, ReLU) -> 64x64x3 (5x5 stride 1), tanh; 4x4 at first for CIFAR's 32x32.
        base = cfg.image_size // 8
        h = layers.Dense(base * base * 512, kernel_initializer=init)(z)
        h = layers.ReLU()(_batch_norm(cfg)(h))
        h = layers.Reshape((base, base, 512))(h)
        for filters in (256, 128, 64):
            # the first: a plain normal(0.02), not truncated (the original's Celeb-A/vae-gan.py:195)
            first = filters == 256 and cfg.init_stddev
            conv_init = keras.initializers.RandomNormal(stddev=cfg.init_stddev) if first else init
            h = layers.Conv2DTranspose(filters, 5, strides=2, padding='same', kernel_initializer=conv_init)(h)
            h = layers.ReLU()(_batch_norm(cfg)(h))
        x = layers.Conv2DTranspose(cfg.channels, 5, strides=1, padding='same', activation='tanh',
                                   kernel_initializer=init)(h)
    return keras.Model(z, x, name='decoder')


def build_discriminator(cfg):
    """D: x -> [dis_l, logit]. The encoder's conv trunk (for mnist without batch norm), then dense 1."""
    x = keras.Input((cfg.image_size, cfg.image_size, cfg.channels), name='x')
    if cfg.arch == 'paper':
        # 64x64x3 -> 64x64x32 (stride 1, ReLU, no batch norm) -> 32x32x128 -> 16x16x256 -> 8x8x256;
        # Dis_l is the fourth conv's output before its batch norm (recon_depth=9) [model/aegan.py];
        # then batch norm, ReLU -> dense 512, batch norm, ReLU -> logit [architectures.py]
        h = layers.ReLU()(layers.Conv2D(32, 5, padding='same', kernel_initializer=_kernel_init(cfg))(x))
        for filters in (128, 256):
            h = _paper_bn_relu(cfg, _paper_conv(cfg, h, filters, 2))
        features = _paper_conv(cfg, h, 256, 2)
        dis_l = layers.Flatten(name='dis_l')(features)
        h = layers.Flatten()(_paper_bn_relu(cfg, features))
        h = _paper_bn_relu(cfg, layers.Dense(512, use_bias=False, kernel_initializer=_kernel_init(cfg))(h), 1e-5)
        logit = layers.Dense(1, kernel_initializer=_kernel_init(cfg), name='logit', dtype='float32')(h)
        return keras.Model(x, [dis_l, logit], name='discriminator')
    dis_l = layers.Flatten(name='dis_l')(_conv_stack(cfg, x, batch_norm=cfg.arch != 'mnist'))
    # its output layer passes no initializer in the original: TF1's default, Glorot uniform (both scripts)
    logit = layers.Dense(1, kernel_initializer='glorot_uniform', name='logit', dtype='float32')(dis_l)
    return keras.Model(x, [dis_l, logit], name='discriminator')


# ---- The three networks with an optimizer each ---------------------------------------------------

@dataclasses.dataclass
class Networks:
    """The three networks and one optimizer each, keyed by name: nets['decoder'], nets.optimizers['decoder']."""
    encoder: keras.Model
    decoder: keras.Model
    discriminator: keras.Model
    optimizers: dict
    averages: dict = dataclasses.field(default_factory=dict)  # with ema_decay: {'encoder': ..., 'decoder': ...}
    skips: dict = dataclasses.field(default_factory=dict)  # the balance rule's skips: {'discriminator', 'decoder'}
    gradients: dict = dataclasses.field(default_factory=dict)  # for histograms: {network: a variable per weight}
    histogram_due: tf.Variable = None  # whether this step's gradients go to `gradients`
    augment_p: tf.Variable = None  # with ada_target: the augmentation's chance, which ADA moves
    signs: tf.Variable = None  # with ada_target: the sum of sign_x over the steps since p last moved

    def __getitem__(self, name):
        return getattr(self, name)

    def sampling(self):
        """{'encoder', 'decoder'}: what grids, scores and best/ use: the weights' averages when kept."""
        return self.averages or {'encoder': self.encoder, 'decoder': self.decoder}


def build_networks(cfg):
    """The three networks with an optimizer each; with ema_decay, copies of the encoder and decoder for
    their averages, starting at the initial weights."""
    encoder, decoder, discriminator = build_encoder(cfg), build_decoder(cfg), build_discriminator(cfg)
    averages = {}
    if cfg.ema_decay is not None:
        averages = {'encoder': build_encoder(cfg), 'decoder': build_decoder(cfg)}
        for name, net in (('encoder', encoder), ('decoder', decoder)):
            averages[name].set_weights(net.get_weights())
    optimizers = {net.name: build_optimizer(cfg, net, lr) for net, lr in
                  ((encoder, cfg.lr_encoder), (decoder, cfg.lr_decoder), (discriminator, cfg.lr_discriminator))}
    skips = {name: tf.Variable(0, dtype=tf.int64, trainable=False) for name in ('discriminator', 'decoder')}
    nets = Networks(encoder, decoder, discriminator, optimizers, averages, skips)
    if cfg.ada_target is not None:
        nets.augment_p, nets.signs = (tf.Variable(value, trainable=False) for value in (cfg.augment_p, 0.0))
    return nets


def build_optimizer(cfg, net, lr):
    """Adam with beta1 0.5 (the original) or DeepPy's RMSProp (the official code), built so that a checkpoint
    restores its slots; under float16 inside a LossScaleOptimizer."""
    if cfg.optimizer == 'deeppy_rmsprop':
        optimizer = DeepPyRMSprop(lr, rho=0.9, epsilon=cfg.epsilon)
    else:
        optimizer = keras.optimizers.Adam(lr, beta_1=cfg.beta1, epsilon=cfg.epsilon)
    if cfg.mixed_precision == 'float16':  # bfloat16 has float32's exponent range: no scaling
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(net.trainable_variables)
    return optimizer


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
    """The optimizer under any loss scaling: the one a checkpoint holds and whose learning rate is set."""
    return getattr(optimizer, 'inner_optimizer', optimizer)


def learning_rates(cfg, epoch):
    """{network: learning rate} in epoch (from 1): constant; 'annealed' as the official GammaAnnealer, from lr
    towards lr_end by ((epoch - 1) / epochs)^0.75; or 'linear': constant for lr_decay_from * epochs epochs,
    then linearly towards lr_end (CycleGAN's policy)."""
    rates = {'encoder': cfg.lr_encoder, 'decoder': cfg.lr_decoder, 'discriminator': cfg.lr_discriminator}
    if cfg.lr_schedule == 'annealed':
        rates = {name: lr - ((epoch - 1) / cfg.epochs) ** 0.75 * (lr - cfg.lr_end) for name, lr in rates.items()}
    elif cfg.lr_schedule == 'linear':
        start = cfg.lr_decay_from * cfg.epochs
        done = max(0.0, epoch - 1 - start) / max(cfg.epochs - start, 1e-9)
        rates = {name: lr - min(done, 1.0) * (lr - cfg.lr_end) for name, lr in rates.items()}
    return rates


def update_averages(nets, decay, step):
    """average <- d * average + (1 - d) * weights after step `step` (from 1), batch-norm statistics included
    (Keras' use_ema averages only what its optimizer updates); d = min(decay, (1 + step) / (10 + step)), as
    tf.train.ExponentialMovingAverage's num_updates: early on the average forgets the initial weights fast."""
    step = tf.cast(step, tf.float32)
    d = tf.minimum(decay, (1.0 + step) / (10.0 + step))
    for name, average in nets.averages.items():
        for kept, weight in zip(average.weights, nets[name].weights):
            kept.assign(d * kept + (1 - d) * tf.cast(weight, kept.dtype))


# ---- Using a trained model ------------------------------------------------------------------------

def prior_z(count, z_dim, seed):
    """`count` codes z ~ N(0, I), fixed by `seed` (the first n of a larger draw are the same n)."""
    return tf.random.Generator.from_seed(seed).normal([count, z_dim])


def discriminate_real(discriminator, x, r1=False):
    """(Dis_l(x), D's logit, R1 or None): D on real images; with r1 also the R1 penalty, the batch mean of
    |d logit / dx|^2 (Mescheder et al. 2018, eq. 9), from a tape of its own, so its gradient reaches D's
    weights through the caller's tape (a double backward pass)."""
    if not r1:
        return (*discriminator(x, training=True), None)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        dis_l, logit = discriminator(x, training=True)
        total = tf.reduce_sum(logit)  # (recorded: each row's logit depends on its own image, batch norm aside)
    slope = tf.cast(tape.gradient(total, x), tf.float32)
    return dis_l, logit, tf.reduce_mean(tf.reduce_sum(tf.square(slope), axis=list(range(1, len(x.shape)))))


AUGMENT_DRAWS = 12  # uniform numbers per image that augment() reads


def augment(x, kinds, p, u):
    """DiffAugment (Zhao et al. 2020; DiffAugment_tf.py), differentiable in x, each part applied to each image
    with chance p: 'color' (brightness + U(-0.5, 0.5), saturation and contrast * U(0, 2) and U(0.5, 1.5) about
    their means: three parts), 'translation' (one part: a shift of up to 1/8 of the side, rounded, each way,
    zero-filled), 'cutout' (a zeroed square of half the side, centred anywhere). Its strengths are for pixels
    in [-1, 1]: on MNIST's [0, 1] the brightness moves twice as far and the fill is the black background.
    u [n, AUGMENT_DRAWS] in [0, 1): the draw; images given one u move alike."""
    size, dtype = x.shape[1], x.dtype
    u = tf.cast(u, tf.float32)
    on = lambda k: u[:, k] < p  # augmentation k applied to each image?
    column = lambda values: tf.cast(values, dtype)[:, None, None, None]
    pick = lambda k, changed, x: tf.where(on(k)[:, None, None, None], changed, x)
    if 'color' in kinds:
        x = pick(0, x + column(u[:, 1] - 0.5), x)
        mean = tf.reduce_mean(x, axis=3, keepdims=True)
        x = pick(2, mean + (x - mean) * column(2 * u[:, 3]), x)
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = pick(4, mean + (x - mean) * column(u[:, 5] + 0.5), x)
    if 'translation' in kinds:
        shift = int(size * 0.125 + 0.5)
        padded = tf.pad(x, [[0, 0], [shift, shift], [shift, shift], [0, 0]])
        for axis, k in ((1, 7), (2, 8)):  # rows, then columns: out[i] = x[i + t], 0 outside
            t = tf.where(on(6), tf.cast(tf.floor(u[:, k] * (2 * shift + 1)), tf.int32) - shift, 0)
            index = tf.range(size)[None] + shift + t[:, None]
            padded = tf.gather(padded, index, axis=axis, batch_dims=1)
        x = padded
    if 'cutout' in kinds:
        side = int(size * 0.5 + 0.5)
        inside = []
        for k in (10, 11):  # the square's rows, then its columns
            start = tf.cast(tf.floor(u[:, k] * (size + 1 - side % 2)), tf.int32)[:, None] - side // 2
            inside.append((tf.range(size)[None] >= start) & (tf.range(size)[None] < start + side))
        cut = inside[0][:, :, None] & inside[1][:, None, :] & on(9)[:, None, None]
        x *= tf.cast(~cut, dtype)[..., None]
    return x


def adaptive_weight(tape, reconstruction, gan, last):
    """VQGAN's weight of the GAN term (Esser et al. 2021; taming-transformers' vqperceptual.py,
    calculate_adaptive_weight): |d reconstruction / d last| / (|d gan / d last| + 1e-4), clipped to [0, 1e4],
    held constant. last: the decoder's last kernel; tape: a persistent tape that recorded both losses."""
    with tape.stop_recording():
        g_reconstruction, g_gan = tape.gradient(reconstruction, last), tape.gradient(gan, last)
    return tf.stop_gradient(tf.clip_by_value(tf.norm(g_reconstruction) / (tf.norm(g_gan) + 1e-4), 0.0, 1e4))


def reconstruct(encoder, decoder, x):
    """x -> decoder(mean of q(z|x)), batch norm in inference mode."""
    mean, _ = encoder(x, training=False)
    return decoder(mean, training=False)


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
    """L_D = -mean(log D(x)) - sum over the fakes of mean(log(1 - D(fake))) (the original); with real_weight
    w (the official real_vs_gen_weight): w * real + (1 - w) * fakes; offset: the official log(D + 1e-3)."""
    real = tf.reduce_mean(neg_log_d(logit_x, offset))
    fake = tf.add_n([tf.reduce_mean(neg_log_not_d(logit, offset)) for logit in logit_fakes])
    return real + fake if real_weight is None else real_weight * real + (1 - real_weight) * fake


def decoder_gan_loss(logit_fakes, form='non_saturating', offset=0.0):
    """The decoder's GAN term over its fakes: 'non_saturating' sum of mean(-log D(fake)) (the original);
    'saturating' sum of mean(log(1 - D(fake))) (the official code: the decoder minimises what D maximises)."""
    if form == 'saturating':
        return -tf.add_n([tf.reduce_mean(neg_log_not_d(logit, offset)) for logit in logit_fakes])
    return tf.add_n([tf.reduce_mean(neg_log_d(logit, offset)) for logit in logit_fakes])


def decoder_loss(dis_l, gan, gamma_dec, recon_weight=None):
    """The decoder's loss: gamma_dec * Dis_l + GAN (the original's MNIST/vae-gan.py:181), or with the
    official recon_vs_gan_weight w: w * Dis_l + (1 - w) * GAN."""
    return gamma_dec * dis_l + gan if recon_weight is None else recon_weight * dis_l + (1 - recon_weight) * gan


def dis_l_loss(dis_l_x_tilde, dis_l_x, likelihood='mean'):
    """The learned similarity: 'mean', mean((Dis_l(x~) - Dis_l(x))^2) (the original's L_llike); 'gaussian',
    -log N(Dis_l(x~); Dis_l(x), I) + const: half the squared error summed over features, batch mean (official)."""
    squared = tf.square(tf.cast(dis_l_x_tilde, tf.float32) - tf.cast(dis_l_x, tf.float32))
    if likelihood == 'gaussian':
        return tf.reduce_mean(0.5 * tf.reduce_sum(tf.reshape(squared, [tf.shape(squared)[0], -1]), axis=1))
    return tf.reduce_mean(squared)


def kl_loss(mean, sigma):
    """Batch mean of KL(N(mean, diag(sigma^2)) || N(0, I)), summed over latent dims, in closed form."""
    kl = 0.5 * (tf.square(mean) + tf.square(sigma) - 1.0) - tf.math.log(sigma)
    return tf.reduce_mean(tf.reduce_sum(kl, axis=1))


def kl_weight(setting, epoch, batch_size, z_dim):
    """'1/z_dim' (the original's MNIST/vae-gan.py:189), '1/batch' (Celeb-A/vae-gan.py), 'sigmoid':
    sigmoid((epoch - 1)/3 - 5), epoch from 1 (the original's commented-out schedule, line 294), or a number."""
    if setting == '1/batch':
        return 1.0 / tf.cast(batch_size, tf.float32)
    if setting == '1/z_dim':
        return tf.constant(1.0 / z_dim, tf.float32)
    if setting == 'sigmoid':
        return tf.sigmoid((tf.cast(epoch, tf.float32) - 1.0) / 3.0 - 5.0)
    return tf.constant(float(setting), tf.float32)


def balance(scalars, equilibrium, margin):
    """The official code's balance rule (model/aegan.py, not in the paper): (update D, update the decoder)
    from real_cost and fake_cost. D is skipped while it wins (either cost below equilibrium - margin), the
    decoder while D loses (either above equilibrium + margin); both update if both would be skipped.
    margin None (the rule off): (None, None)."""
    if margin is None:
        return None, None
    real_cost, fake_cost = scalars['real_cost'], scalars['fake_cost']
    update_d = tf.logical_not((real_cost < equilibrium - margin) | (fake_cost < equilibrium - margin))
    update_decoder = tf.logical_not((real_cost > equilibrium + margin) | (fake_cost > equilibrium + margin))
    neither = tf.logical_not(update_d | update_decoder)
    return update_d | neither, update_decoder | neither
