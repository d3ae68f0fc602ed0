import dataclasses

import pytest

import config
from config import UsageError


def test_presets_have_the_originals_hyperparameters():
    m, c = config.mnist, config.celeb_a
    assert (m.batch_size, m.epochs, m.z_dim, m.gamma_dec, m.gamma_enc) == (256, 200, 32, 100.0, 100.0)
    assert (m.lr_encoder, m.lr_decoder, m.lr_discriminator, m.beta1) == (1e-3, 1e-3, 1e-3, 0.5)
    assert (c.batch_size, c.epochs, c.z_dim, c.gamma_dec, c.gamma_enc) == (128, 100, 128, 30.0, 10.0)
    assert (c.lr_encoder, c.lr_decoder, c.lr_discriminator, c.init_stddev) == (3e-4, 3e-4, 1e-4, 0.02)
    assert (c.image_size, c.channels, c.sample_every, c.checkpoint_every) == (64, 3, 2, 5)
    assert c.fresh_batches and not m.fresh_batches
    assert round(c.crop_fraction * 178) == 140
    cifar = config.cifar10
    assert (cifar.image_size, cifar.channels, cifar.z_dim, cifar.batch_size, cifar.epochs) == (32, 3, 100, 128, 50)
    assert config.fashion_mnist == dataclasses.replace(m, dataset='fashion_mnist', out_dir='Fashion-MNIST')
    assert (m.out_dir, c.out_dir) == ('MNIST', 'Celeb-A')


def test_default_is_the_mnist_preset():
    assert config.DATASET == 'mnist'
    assert config.from_args([]) == config.mnist


def test_overrides_are_parsed_to_the_fields_types():
    cfg = config.from_args(['--dataset=celeb_a', '--epochs=3', '--lr_decoder=2e-4', '--cache=true',
                            '--steps_per_epoch=7', '--kl_weight=sigmoid', '--out_dir=/tmp/x'])
    assert cfg.dataset == 'celeb_a' and cfg.z_dim == 128  # the preset, then the overrides
    assert cfg.epochs == 3 and isinstance(cfg.epochs, int)
    assert cfg.lr_decoder == 2e-4 and cfg.cache is True and cfg.steps_per_epoch == 7
    assert cfg.kl_weight == 'sigmoid' and cfg.out_dir == '/tmp/x'
    assert config.from_args(['--steps_per_epoch=None']).steps_per_epoch is None
    assert config.from_args(['--kl_weight=0.5']).kl_weight == '0.5'


@pytest.mark.parametrize('args, message', [
    (['--dataset=svhn'], "unknown dataset 'svhn'"),
    (['--batchsize=3'], "unknown field 'batchsize'; valid fields: dataset"),
    (['--epochs=three'], '--epochs=three: expected int'),
    (['--cache=maybe'], 'expected true or false'),
    (['--batch_size=0'], 'batch_size must be at least 1'),
    (['--epochs=-1'], 'epochs must be at least 1'),
    (['--kl_weight=big'], "kl_weight must be '1/batch', 'sigmoid' or a number"),
    (['--kl_weight=-1'], 'kl_weight must be'),
    (['--lr_encoder=-0.1'], 'lr_encoder must be >= 0'),
    (['--dataset=celeb_a', '--image_size=30'], 'divisible by 8'),
    (['epochs=3'], "write --field=value"),
    (['--epochs'], "write --field=value"),
])
def test_bad_overrides_name_the_problem(args, message):
    with pytest.raises(UsageError, match=message.replace('(', r'\(').replace("'", "'")):
        config.from_args(args)


def test_unknown_field_error_lists_every_field():
    with pytest.raises(UsageError) as error:
        config.from_args(['--nope=1'])
    for name in ('dataset', 'epochs', 'batch_size', 'z_dim', 'out_dir', 'steps_per_epoch', 'kl_weight',
                 'seed', 'sample_every', 'checkpoint_every', 'data_dir'):
        assert name in str(error.value)
