"""The experiment: one preset per recipe. Edit a preset (or PRESET) to change what `python vae_gan.py`
trains, or override any field on the command line (configurator.py parses and checks it):

    python vae_gan.py --preset=celeb_a --epochs=5 --kl_weight=sigmoid

The values are the original TensorFlow 1 repo's (PrateekMunjal/VAE_GAN: its MNIST/vae-gan.py and
Celeb-A/vae-gan.py, "the original" below) unless a comment names the paper's official code
(andersbll/autoencoding_beyond_pixels). Importing this module does no work.
"""
import dataclasses
import math
import typing

PRESET = 'mnist'  # the preset that `python vae_gan.py` trains; --preset=... picks another


@dataclasses.dataclass(frozen=True)
class Config:
    preset: str = 'mnist'  # the name of this preset (PRESETS below), chosen by --preset
    # data
    dataset: str = 'mnist'  # the tensorflow-datasets name (mnist, fashion_mnist, cifar10, celeb_a, ...)
    data_dir: str = ''  # a folder of images to read instead of tfds (e.g. img_align_celeba/); '' = tfds
    image_size: int = 28  # height = width of the images the networks see
    channels: int = 1  # 1 = grayscale, 3 = RGB
    crop_fraction: float = 1.0  # central square crop, as a fraction of the shorter side, before resize
    crop_box: str = ''  # 'top,left,height,width' in pixels instead of the central crop; '' = none
    blur_sigma: float = 0.0  # Gaussian blur before the resize (against moire); 0 = an antialiased resize instead
    resize_method: str = 'bilinear'  # tf.image.resize's method
    flip: bool = False  # a random horizontal flip of each training image
    flip_batch: bool = False  # with flip: flip whole batches, each with probability 1/2, not single images
    train_split: str = 'train[5000:]'  # tfds split(s) to train on: MNIST/vae-gan.py's TF1 read_data_sets keeps
    #   55,000 of the 60,000 (its first 5,000 are validation; tfds orders them otherwise, so another 5,000).
    #   A folder (--data_dir) ignores the [slice]: it has its own split (data.split_files)
    held_out_split: str = 'test'  # the split of the sample grids and of inference's originals and scores
    validation_split: str = 'train[:5000]'  # the images best/ is chosen on: MNIST's 5,000 that the 55,000 leave
    #   out, never the test split; '' = none. A folder uses its own validation part (data.split_files)
    cache: bool = True  # keep the decoded dataset in memory (MNIST: 47 MB); too big for CelebA
    shuffle_buffer: int = 60000  # images shuffled together; the whole of MNIST
    # model
    arch: str = 'mnist'  # network family of models.py: 'mnist' (28x28), 'celeb_a' (64x64, 32x32) or 'paper'
    z_dim: int = 32  # latent size; the original's MNIST/vae-gan.py
    init_stddev: float = 0.0  # truncated-normal stddev for kernels; 0 = Keras' Glorot (TF1's default)
    kernel_init: str = 'default'  # 'default' (init_stddev above) or 'autofiller' (DeepPy's: uniform +-1/sqrt(3 fan_in))
    # optimisation: one optimizer per network (the original's vae-gan.py scripts)
    epochs: int = 200
    batch_size: int = 256
    steps_per_epoch: typing.Optional[int] = None  # cap on steps per epoch; None = a full pass
    lr_encoder: float = 1e-3
    lr_decoder: float = 1e-3
    lr_discriminator: float = 1e-3
    beta1: float = 0.5  # Adam's beta1, as DCGAN: the default 0.9 destabilises GANs
    epsilon: float = 1e-8  # Adam's (and RMSProp's) epsilon: TF1's default, as the original (Keras' is 1e-7)
    optimizer: str = 'adam'  # or 'deeppy_rmsprop', the official code's: lr g / (sqrt(v) + epsilon), rho 0.9
    kernel_l2: float = 0.0  # an L2 penalty kernel_l2 * |w|^2 on conv and dense kernels but the encoder's latent
    #   heads, i.e. 2 kernel_l2 w added to their gradients (DeepPy's weight decay, deeppy/parameter.py:70-74;
    #   the official heads have none, architectures.py:45-47)
    lr_schedule: str = 'constant'  # or 'annealed', the official GammaAnnealer: lr - ((epoch - 1)/epochs)^0.75
    #                                * (lr - lr_end) in epoch 1, 2, ...
    #                                or 'linear': constant for the first lr_decay_from of the epochs, then
    #                                straight down towards lr_end (CycleGAN's policy, Zhu et al. 2017: 100 epochs
    #                                constant, 100 decaying to 0), so a long run settles instead of drifting
    lr_end: float = 0.0  # the annealed or linear learning rates' last value
    lr_decay_from: float = 0.5  # 'linear': the share of the epochs trained at the full learning rates
    gamma_enc: float = 100.0  # weight of the Dis_l term in the encoder's loss
    gamma_dec: float = 100.0  # weight of the Dis_l term in the decoder's loss
    dis_l_likelihood: str = 'mean'  # 'mean': the original's mean squared error; 'gaussian': the official
    #                                 -log N(Dis_l(x~); Dis_l(x), 1) = 0.5 * squared error summed over features
    recon_vs_gan_weight: typing.Optional[float] = None  # decoder: w * Dis_l + (1 - w) * GAN (official);
    #                                                     None = gamma_dec * Dis_l + GAN (the original)
    real_vs_gen_weight: typing.Optional[float] = None  # D: w * real term + (1 - w) * fake terms (official 0.5);
    #                                                    None = their plain sum (the original)
    discriminate_recon: bool = True  # reconstructions x~ are fakes too: D learns to reject them and the
    #   decoder's GAN term to pass them off (the original); False: prior samples x_p only (official)
    gan_log_offset: float = 0.0  # the GAN terms as log(D + c) and log(1 - D + c); 0 = the exact, stable
    #                              log-sigmoid forms (the original's log D without an offset)
    gan_loss: str = 'non_saturating'  # the decoder minimises -log D(x_p) (the original); 'saturating':
    #   log(1 - D(x_p)) (the official code)
    kl_weight: str = '1/z_dim'  # the original's MNIST/vae-gan.py:189: 1/z_dim; '1/batch' (the original README's
    #   advice, Celeb-A/vae-gan.py's), 'sigmoid' (sigmoid((epoch - 1)/3 - 5): epochs count from 1 here, the
    #   original's from 0) or a number
    fresh_batches: bool = False  # True: the three networks each get their own batch (the CelebA script)
    balance_margin: typing.Optional[float] = None  # the balance rule of the official code (not in the paper):
    #   skip D's update while D wins by more than this, the decoder's while D loses by more; None = off
    equilibrium: float = 0.68  # the cost -log D the rule balances around: about ln 2, D undecided
    concat_batches: bool = False  # with update='simultaneous': D runs once on [x, x_p] and Dis_l once on
    #   [x~, x], so reals and fakes share batch-norm statistics (the official one-pass step); else apart
    update: str = 'sequential'  # D, then the encoder, then the decoder, each on a fresh forward pass (the
    #   original); or 'simultaneous': one shared forward pass and all three updates from it (the official code)
    jit_compile: bool = False  # XLA for the step (`python bench.py` tells where it is faster: not on CPUs here)
    mixed_precision: str = 'false'  # 'float16' (GPUs with tensor cores; loss scaling), 'bfloat16' (CPUs with
    #   AVX512-BF16 or AMX, TPUs, A100/H100-class GPUs; float32's range, no loss scaling) or 'false'.
    #   Weights, the encoder's heads, D's logit, losses and batch-norm statistics stay float32
    strategy: str = 'default'  # 'default' (one device) or 'mirrored' (all local GPUs, the batch split among them)
    seed: int = 0  # weights, noise and shuffling all follow it
    # output
    out_dir: str = 'MNIST'  # checkpoints, logs, grids and config.json go here
    sample_every: int = 5  # epochs between 5x5 grids in op-real/, op-recons/, op-gen/
    checkpoint_every: int = 2  # epochs between checkpoints (also one at the end)
    log_every: int = 20  # steps between TensorBoard scalars and progress-bar values (the original's 20)
    metric_features: str = 'auto'  # feature spaces of the scores, a comma list: 'classifier' and 'mlp' (two small
    #   MNIST networks built apart, offline) or 'inception' (Keras' InceptionV3, ImageNet weights); 'none'; 'auto':
    #   those that fit the data: classifier,mlp for mnist and fashion_mnist, none for a folder of your images
    #   (digit classifiers would score photos as digits), inception for any other dataset
    eval_every: int = 4  # epochs between the validation scores (FID, KID, precision, recall, MSE, SSIM; to
    #   TensorBoard and scores.jsonl) that keep the best model in best/; 0 = never. A multiple of checkpoint_every,
    #   so that a scored model is also checkpointed
    eval_samples: int = 2000  # generations (and validation images) each of those scores uses
    r1_gamma: float = 0.0  # D's loss + r1_gamma / 2 * E|d logit D(x) / dx|^2 on real images, the R1 penalty
    #   (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?"): D's slope where the data
    #   is, kept small; 0 = off (the original). With the sequential step only
    ema_decay: typing.Optional[float] = None  # an exponential moving average of the encoder's and decoder's
    #   weights (batch-norm statistics included), this decay a step, kept beside them for sampling only (Yazici et al.
    #   2019, "The Unusual Effectiveness of Averaging in GAN Training"; BigGAN, StyleGAN: 0.999-0.9999): the grids,
    #   renders, validation scores, best/ and exports use it; min(ema_decay, (1 + step) / (10 + step)) early on
    #   (tf.train.ExponentialMovingAverage's num_updates). None = off (the original)
    prior: str = 'normal'  # what generations are drawn from: 'normal', N(0, I), the prior the networks train against
    #   (the original, the paper); 'mixture': a Gaussian mixture fitted after training to the training images'
    #   codes (Ghosh et al. 2020; prior.py), in renders, --metrics and the validation scores (not the op-gen/ grids)
    prior_components: int = 10  # the mixture's components (full covariances)
    prior_images: int = 60000  # the training images whose codes the mixture is fitted to (at most: MNIST has
    #   55,000; fewer fit faster, and less well: RESULTS.md)
    histogram_every: int = 500  # steps between weight and gradient histograms (of the step's own gradients);
    #   0 = none


# The original's MNIST script (MNIST/vae-gan.py): batch 256, 200 epochs, z 32, lr 1e-3, gammas 100.
mnist = Config()

# The original's commented-out sigmoid KL schedule, sigmoid(epoch/3 - 5), in place of 1/z_dim: the KL
# weight climbs to 1 by epoch 30, pulling the codes onto the prior: more precise generations of fewer of
# the digits, and worse reconstructions (RESULTS.md): another trade, not a better recipe.
mnist_sigmoid = dataclasses.replace(Config(), preset='mnist_sigmoid', kl_weight='sigmoid', epochs=30,
                                    out_dir='MNIST-sigmoid')

# The original's MNIST recipe with the two levers that helped over seeds (RESULTS.md):
# generations from the encoder and decoder's weights averaged over the steps (Yazici et al. 2019), drawn
# from a Gaussian mixture fitted to the training codes instead of N(0, I) (Ghosh et al. 2020). Training
# is the original's step for step: the average only samples, and the mixture is fitted after training
# (and at each validation score, so best/ is chosen by what a render draws).
mnist_ema_mixture = dataclasses.replace(Config(), preset='mnist_ema_mixture', ema_decay=0.999, prior='mixture',
                                        out_dir='MNIST-ema-mixture')

# A folder of your own pictures on a CPU (--data_dir): the original's MNIST networks, small and fast, on
# 28x28 grey images (each picture's central square); a batch of 64 for more steps in a small folder, and
# a checkpoint and grids every epoch, so a stop keeps them. The celeb_a networks (64x64 colour) want a GPU.
folder = dataclasses.replace(mnist, preset='folder', dataset='', batch_size=64, epochs=100, eval_every=0,
                             checkpoint_every=1, sample_every=1, out_dir='runs/folder')

# The MNIST preset unchanged on Fashion-MNIST (same 28x28x1 shape).
# No feature networks ship for it: train them (`python metrics.py --train_classifier --preset=fashion_mnist`,
# minutes) and pass --eval_every=4 to keep the best model.
fashion_mnist = dataclasses.replace(mnist, preset='fashion_mnist', dataset='fashion_mnist', out_dir='Fashion-MNIST',
                                    eval_every=0)

# The original's CelebA script (Celeb-A/vae-gan.py): 64x64 "closecrop" (the central 140x140 of the 178-wide
# image, resized with PIL's ANTIALIAS), pixels in [-1, 1], batch 128, 100 epochs, z 128, KL weight 1/batch,
# lr 3e-4 (encoder, decoder) and 1e-4 (D), gammas 30/10, truncated-normal(0.02) kernels (but models.py's two
# exceptions), a fresh batch for each network, grids every 2 epochs, checkpoints every 5.
celeb_a = dataclasses.replace(
    mnist, preset='celeb_a', dataset='celeb_a', image_size=64, channels=3, crop_fraction=140 / 178, cache=False,
    resize_method='lanczos3',  # PIL's ANTIALIAS (Lanczos), lines 79-95
    train_split='train', kl_weight='1/batch',  # the official train split; 1/batch_size
    # No best/ by default: its grids and scores use the validation split (held_out_split, as the original),
    # so none is left over to choose on, and InceptionV3's scores take minutes on a CPU.
    validation_split='', eval_every=0,
    shuffle_buffer=10000, arch='celeb_a', z_dim=128, init_stddev=0.02, epochs=100, batch_size=128,
    lr_encoder=3e-4, lr_decoder=3e-4, lr_discriminator=1e-4, gamma_enc=10.0, gamma_dec=30.0,
    fresh_batches=True, held_out_split='validation', metric_features='inception', out_dir='Celeb-A', sample_every=2,
    checkpoint_every=5, histogram_every=100)

# The original config's `config_cifar10` (32x32x3, batch 128, 50 epochs, z 100); it had no model code,
# so this uses the CelebA family adapted to 32x32: the same layers, with a 4x4 (not 8x8) base grid.
cifar10 = dataclasses.replace(
    celeb_a, preset='cifar10', dataset='cifar10', image_size=32, crop_fraction=1.0, cache=True, shuffle_buffer=50000,
    held_out_split='test', z_dim=100, epochs=50, fresh_batches=False, out_dir='CIFAR-10')

# The paper's own recipe, from its official code (andersbll/autoencoding_beyond_pixels and its DeepPy;
# each fact below names its file there). Code-only choices, not in the paper: the crop box, blur and
# flip, the saturating GAN form, D not seeing reconstructions, the 0.5/0.5 real/fake weights, the
# +1e-3 in the GAN logs, weight decay, the annealed learning rate and the balance rule.
# The official losses are sums over the batch; ours are means, so the two batch-size-dependent values
# below are divided by 64 to give the same steps: RMSProp's epsilon (it is added to sqrt(v), which a
# sum makes 64x larger) and the L2 penalty (its gradient is added to a 64x larger data gradient).
celeb_a_paper = dataclasses.replace(
    celeb_a, preset='celeb_a_paper',
    crop_fraction=1.0, crop_box='40,15,148,148',  # rows 40:188, cols 15:163 [dataset/celeba.py]
    blur_sigma=math.sqrt(148 / 64) / 2, resize_method='bicubic',  # against moire [dataset/celeba.py]
    flip=True, flip_batch=True,  # a random flip of each batch [dataset/augment.py:66]; its 600k
    #                              pre-augmented images are not reproduced
    train_split='train+validation', held_out_split='test', validation_split='',  # [dataset/celeba.py]
    arch='paper', init_stddev=0.0, kernel_init='autofiller', z_dim=128,  # [architectures.py, deeppy/filler.py]
    batch_size=64, epochs=250, steps_per_epoch=250,  # 62,500 steps [celeba_aegan.py]
    # One forward and one backward pass, then each network steps (the rule below decides D's and the decoder's)
    # [model/aegan.py:57-119, 181-205]; D on [x, x_p], Dis_l on [x~, x] [aegan.py:69-72, 93-104].
    update='simultaneous', concat_batches=True,
    # DeepPy's RMSProp, rho 0.9, eps 1e-8 [deeppy/train/learn_rules.py:32-54], and weight decay 1e-5 as
    # an L2 penalty on kernels [architectures.py, deeppy/parameter.py:70-74]; lr 0.025 annealed to
    # 1e-5 with gamma 0.75, divided by the batch size 64 [celeba_aegan.py:17-36]: the official value,
    # taken as it is (RMSProp divides the gradient by its RMS, so the step is about lr, sum or mean).
    optimizer='deeppy_rmsprop', epsilon=1e-8 / 64, kernel_l2=1e-5 / 64, lr_schedule='annealed',
    lr_encoder=0.025 / 64, lr_decoder=0.025 / 64, lr_discriminator=0.025 / 64, lr_end=1e-5 / 64,
    kl_weight='1', gamma_enc=1.0, dis_l_likelihood='gaussian',  # encoder: KL + Dis_l, no GAN term [aegan.py]
    recon_vs_gan_weight=1e-6, gan_loss='saturating',  # decoder: 1e-6 Dis_l + (1 - 1e-6) GAN [aegan.py]
    real_vs_gen_weight=0.5, discriminate_recon=False,  # D: real and prior samples, 0.5 each [aegan.py]
    gan_log_offset=1e-3,  # log(D + 1e-3), log(1 - D + 1e-3) [model/aegan.py:111-116]
    balance_margin=0.35, equilibrium=0.68,  # [model/aegan.py]
    fresh_batches=False, out_dir='Celeb-A-paper', sample_every=5, checkpoint_every=5)

PRESETS = {'mnist': mnist, 'mnist_sigmoid': mnist_sigmoid, 'mnist_ema_mixture': mnist_ema_mixture, 'folder': folder,
           'fashion_mnist': fashion_mnist, 'celeb_a': celeb_a, 'cifar10': cifar10, 'celeb_a_paper': celeb_a_paper}
