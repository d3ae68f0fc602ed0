"""The experiment: one preset per recipe; edit one, or override a field with a flag (configurator.py):

    python vae_gan.py --preset=celeb_a --epochs=5 --kl_weight=sigmoid

Values are the original TensorFlow 1 repo's (PrateekMunjal/VAE_GAN, "the original") unless a comment
names the paper's official code (andersbll/autoencoding_beyond_pixels).
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
    train_split: str = 'train[5000:]'  # 55,000 of MNIST's 60,000, as the original's read_data_sets; a folder:
    #   its own split, the [slice] ignored (data.split_files)
    held_out_split: str = 'test'  # the split of the sample grids and of inference's originals and scores
    validation_split: str = 'train[:5000]'  # best/ is chosen on these, never on the test split; '' = none
    cache: bool = True  # keep the decoded dataset in memory; too big for CelebA
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
    kernel_l2: float = 0.0  # DeepPy's weight decay, an L2 penalty kernel_l2 * |w|^2 on kernels but the latent heads'
    lr_schedule: str = 'constant'  # or 'annealed', the official GammaAnnealer: lr - ((epoch - 1)/epochs)^0.75
    #   * (lr - lr_end); or 'linear' (CycleGAN's), down to lr_end after lr_decay_from: a long run settles
    lr_end: float = 0.0  # the annealed or linear learning rates' last value
    lr_decay_from: float = 0.5  # 'linear': the share of the epochs trained at the full learning rates
    gamma_enc: float = 100.0  # weight of the Dis_l term in the encoder's loss
    gamma_dec: float = 100.0  # weight of the Dis_l term in the decoder's loss
    dis_l_likelihood: str = 'mean'  # 'mean': the original's mean squared error; 'gaussian': the official
    #   -log N(Dis_l(x~); Dis_l(x), 1) = 0.5 * squared error summed over features
    recon_vs_gan_weight: typing.Optional[float] = None  # decoder: w * Dis_l + (1 - w) * GAN (official);
    #   None = gamma_dec * Dis_l + GAN (the original)
    real_vs_gen_weight: typing.Optional[float] = None  # D: w * real term + (1 - w) * fake terms (official 0.5);
    #   None = their plain sum (the original)
    discriminate_recon: bool = True  # reconstructions x~ are fakes too (the original); False: x_p only (official)
    gan_log_offset: float = 0.0  # log(D + c), log(1 - D + c); 0 = the stable log-sigmoid forms (the original)
    gan_loss: str = 'non_saturating'  # decoder: -log D(x_p) (the original); 'saturating': log(1 - D(x_p)) (official)
    kl_weight: str = '1/z_dim'  # the original's MNIST/vae-gan.py:189; '1/batch' (its README's advice, its CelebA
    #   script's), 'sigmoid' (sigmoid((epoch - 1)/3 - 5), epochs counted from 1) or a number
    fresh_batches: bool = False  # True: the three networks each get their own batch (the CelebA script)
    balance_margin: typing.Optional[float] = None  # the official code's balance rule (not in the paper): skip
    #   D's update while D wins by more than this, the decoder's while D loses by more; None = off
    equilibrium: float = 0.68  # the cost -log D the rule balances around: about ln 2, D undecided
    concat_batches: bool = False  # simultaneous: reals and fakes in one pass share batch-norm statistics (official)
    update: str = 'sequential'  # D, then the encoder, then the decoder, each on a fresh forward pass (the
    #   original); or 'simultaneous': all three updates from one shared forward pass (the official code)
    jit_compile: bool = False  # XLA for the step (`python bench.py` tells whether it is faster here)
    mixed_precision: str = 'false'  # 'float16' (GPUs with tensor cores; loss scaling), 'bfloat16' (AMX CPUs, TPUs,
    #   A100-class GPUs; float32's range) or 'false'. Weights, heads, losses and batch-norm stay float32
    strategy: str = 'default'  # 'default' (one device) or 'mirrored' (all local GPUs, the batch split among them)
    seed: int = 0  # weights, noise and shuffling all follow it
    # output
    out_dir: str = 'MNIST'  # checkpoints, logs, grids and config.json go here
    sample_every: int = 5  # epochs between 5x5 grids in op-real/, op-recons/, op-gen/
    checkpoint_every: int = 2  # epochs between checkpoints (also one at the end)
    log_every: int = 20  # steps between TensorBoard scalars and progress-bar values (the original's 20)
    metric_features: str = 'auto'  # the scores' features: classifier, mlp (MNIST networks), inception or 'none';
    #   'auto': classifier,mlp for (fashion_)mnist, none for a folder (not digits), else inception
    eval_every: int = 4  # epochs between the validation scores that keep the best model in best/; 0 = never.
    #   A multiple of checkpoint_every, so that a scored model is also checkpointed
    eval_samples: int = 2000  # generations (and validation images) each of those scores uses
    r1_gamma: float = 0.0  # the R1 penalty r1_gamma / 2 * E|d logit D(x) / dx|^2 on real images (Mescheder et
    #   al. 2018) keeps D's slope small where the data is; 0 = off (the original). Sequential step only
    augment: str = ''  # DiffAugment (Zhao et al. 2020) of every image D sees, a comma list of 'translation' (up
    #   to 1/8 of the side, rounded: 4 pixels at 28), 'cutout' (a square of half the side), 'color' (models.augment
    #   says how each meets MNIST's [0, 1] pixels); x and x~ share a draw where Dis_l compares them; '' = off (the
    #   original). Sequential step only
    augment_p: float = 1.0  # each augmentation part's chance per image (DiffAugment's: 1); with ada_target, p's start
    #   (ADA's: 0)
    ada_target: typing.Optional[float] = None  # ADA (Karras et al. 2020): every 4 steps p moves up while r_t =
    #   E[sign(D's logit on x)] (about D's neutral logit: vae_gan.neutral_logit) is above this, down while below
    #   (their 0.6); None = p fixed
    ada_images: int = 500000  # ADA's speed: the images over which p moves by 1 (their ada_kimg, 500)
    adaptive_gan_weight: typing.Optional[float] = None  # the decoder's GAN term weighted each step by |grad of
    #   gamma_dec * Dis_l| / |grad of GAN| at its last layer, times this (VQGAN, Esser et al. 2021); None = 1
    ema_decay: typing.Optional[float] = None  # an average of the encoder's and decoder's weights to sample from
    #   (Yazici et al. 2019), as tf.train.ExponentialMovingAverage with num_updates; None = off (the original)
    prior: str = 'normal'  # generations drawn from 'normal', N(0, I) (the original, the paper), or 'mixture': a
    #   Gaussian mixture fitted to the training codes after training (Ghosh et al. 2020; prior.py)
    prior_components: int = 10  # the mixture's components (full covariances)
    prior_images: int = 60000  # at most this many training images' codes fit the mixture: fewer fit faster
    histogram_every: int = 500  # steps between weight and gradient histograms; 0 = none


# The original's MNIST script (MNIST/vae-gan.py): batch 256, 200 epochs, z 32, lr 1e-3, gammas 100.
mnist = Config()

# The original's commented-out sigmoid KL schedule in place of 1/z_dim: the KL weight climbs to 1 by
# epoch 30, pulling the codes onto the prior.
mnist_sigmoid = dataclasses.replace(Config(), preset='mnist_sigmoid', kl_weight='sigmoid', epochs=30,
                                    out_dir='MNIST-sigmoid')

# The original's MNIST training step for step, sampled from the weights' average (Yazici et al. 2019)
# and from a Gaussian mixture fitted to the training codes (Ghosh et al. 2020) instead of N(0, I).
mnist_ema_mixture = dataclasses.replace(Config(), preset='mnist_ema_mixture', ema_decay=0.999, prior='mixture',
                                        out_dir='MNIST-ema-mixture')

# mnist_ema_mixture with the official code's balance rule: D's lead over the generations holds at about 0.6
# from epoch 41 instead of climbing, and the FID falls to about epoch 120 (RESULTS.md, "The decay").
mnist_balance = dataclasses.replace(mnist_ema_mixture, preset='mnist_balance', balance_margin=0.35,
                                    out_dir='MNIST-balance')

# A folder of your own pictures on a CPU (--data_dir): the small MNIST networks on 28x28 grey squares;
# batch 64 for more steps in a small folder; a checkpoint and grids every epoch, so a stop keeps them.
folder = dataclasses.replace(mnist, preset='folder', dataset='', batch_size=64, epochs=100, eval_every=0,
                             checkpoint_every=1, sample_every=1, out_dir='runs/folder')

# The MNIST preset on Fashion-MNIST. No feature networks ship for it: train them
# (`python metrics.py --train_classifier --preset=fashion_mnist`) and pass --eval_every=4 for best/.
fashion_mnist = dataclasses.replace(mnist, preset='fashion_mnist', dataset='fashion_mnist', out_dir='Fashion-MNIST',
                                    eval_every=0)

# The original's CelebA script (Celeb-A/vae-gan.py): 64x64 "closecrop" (the central 140x140 of the 178-wide
# image), pixels in [-1, 1], truncated-normal(0.02) kernels (but models.py's two exceptions).
celeb_a = dataclasses.replace(
    mnist, preset='celeb_a', dataset='celeb_a', image_size=64, channels=3, crop_fraction=140 / 178, cache=False,
    resize_method='lanczos3',  # PIL's ANTIALIAS (Lanczos), lines 79-95
    train_split='train', kl_weight='1/batch',  # the official train split; 1/batch_size
    validation_split='', eval_every=0,  # no best/: held_out_split is the validation split (the original's)
    shuffle_buffer=10000, arch='celeb_a', z_dim=128, init_stddev=0.02, epochs=100, batch_size=128,
    lr_encoder=3e-4, lr_decoder=3e-4, lr_discriminator=1e-4, gamma_enc=10.0, gamma_dec=30.0,
    fresh_batches=True, held_out_split='validation', metric_features='inception', out_dir='Celeb-A', sample_every=2,
    checkpoint_every=5, histogram_every=100)

# The original config's `config_cifar10` (32x32x3, batch 128, 50 epochs, z 100); it had no model code,
# so this uses the CelebA family adapted to 32x32: the same layers, with a 4x4 (not 8x8) base grid.
cifar10 = dataclasses.replace(
    celeb_a, preset='cifar10', dataset='cifar10', image_size=32, crop_fraction=1.0, cache=True, shuffle_buffer=50000,
    held_out_split='test', z_dim=100, epochs=50, fresh_batches=False, out_dir='CIFAR-10')

# The paper's official code, each fact with its file there. Its losses are sums over the batch, ours means:
# so RMSProp's epsilon (added to sqrt(v), 64x larger for a sum) and the L2 penalty (added to a 64x larger
# gradient) are divided by the batch size 64 to give the same steps.
celeb_a_paper = dataclasses.replace(
    celeb_a, preset='celeb_a_paper',
    crop_fraction=1.0, crop_box='40,15,148,148',  # rows 40:188, cols 15:163 [dataset/celeba.py]
    blur_sigma=math.sqrt(148 / 64) / 2, resize_method='bicubic',  # against moire [dataset/celeba.py]
    flip=True, flip_batch=True,  # a random flip of each batch [dataset/augment.py:66]
    train_split='train+validation', held_out_split='test', validation_split='',  # [dataset/celeba.py]
    arch='paper', init_stddev=0.0, kernel_init='autofiller', z_dim=128,  # [architectures.py, deeppy/filler.py]
    batch_size=64, epochs=250, steps_per_epoch=250,  # 62,500 steps [celeba_aegan.py]
    update='simultaneous', concat_batches=True,  # one pass for all [aegan.py:57-119, 181-205; 69-72, 93-104]
    # DeepPy's RMSProp [deeppy/train/learn_rules.py:32-54], weight decay 1e-5 [deeppy/parameter.py:70-74];
    # lr 0.025 annealed to 1e-5, divided by the batch size 64 [celeba_aegan.py:17-36]: the official value as
    # it is (RMSProp divides the gradient by its RMS, so the step is about lr, sum or mean).
    optimizer='deeppy_rmsprop', epsilon=1e-8 / 64, kernel_l2=1e-5 / 64, lr_schedule='annealed',
    lr_encoder=0.025 / 64, lr_decoder=0.025 / 64, lr_discriminator=0.025 / 64, lr_end=1e-5 / 64,
    kl_weight='1', gamma_enc=1.0, dis_l_likelihood='gaussian',  # encoder: KL + Dis_l, no GAN term [aegan.py]
    recon_vs_gan_weight=1e-6, gan_loss='saturating',  # decoder: 1e-6 Dis_l + (1 - 1e-6) GAN [aegan.py]
    real_vs_gen_weight=0.5, discriminate_recon=False,  # D: real and prior samples, 0.5 each [aegan.py]
    gan_log_offset=1e-3,  # log(D + 1e-3), log(1 - D + 1e-3) [model/aegan.py:111-116]
    balance_margin=0.35, equilibrium=0.68,  # [model/aegan.py]
    fresh_batches=False, out_dir='Celeb-A-paper', sample_every=5, checkpoint_every=5)

PRESETS = {'mnist': mnist, 'mnist_sigmoid': mnist_sigmoid, 'mnist_ema_mixture': mnist_ema_mixture,
           'mnist_balance': mnist_balance, 'folder': folder, 'fashion_mnist': fashion_mnist, 'celeb_a': celeb_a,
           'cifar10': cifar10, 'celeb_a_paper': celeb_a_paper}
