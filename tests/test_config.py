import dataclasses

import pytest

import config
import configurator
from configurator import UsageError


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
    assert config.fashion_mnist == dataclasses.replace(m, preset='fashion_mnist', dataset='fashion_mnist',
                                                       out_dir='Fashion-MNIST', eval_every=0)
    assert (m.out_dir, c.out_dir) == ('MNIST', 'Celeb-A')


def test_default_is_the_mnist_preset():
    assert config.PRESET == 'mnist'
    assert configurator.from_args([]) == dataclasses.replace(config.mnist, metric_features='classifier,mlp')  # 'auto' resolved


def test_each_preset_names_itself_and_its_tensorflow_datasets_name():
    assert all(preset.preset == name for name, preset in config.PRESETS.items())
    assert {name: preset.dataset for name, preset in config.PRESETS.items()} == {
        'mnist': 'mnist', 'mnist_sigmoid': 'mnist', 'mnist_ema_mixture': 'mnist', 'mnist_balance': 'mnist',
        'folder': '',  # a --data_dir's
        'fashion_mnist': 'fashion_mnist', 'celeb_a': 'celeb_a', 'cifar10': 'cifar10', 'celeb_a_paper': 'celeb_a'}


def differ(a, b):
    return {f.name for f in dataclasses.fields(config.Config) if getattr(a, f.name) != getattr(b, f.name)}


def test_the_levers_are_off_in_the_faithful_presets_and_mnist_ema_mixture_trains_as_mnist():
    for name, preset in config.PRESETS.items():
        if name not in ('mnist_ema_mixture', 'mnist_balance'):
            assert (preset.ema_decay, preset.prior, preset.r1_gamma) == (None, 'normal', 0.0), name
            assert preset.lr_schedule == ('annealed' if name == 'celeb_a_paper' else 'constant'), name
        if name not in ('mnist_balance', 'celeb_a_paper'):  # the official code's rule
            assert preset.balance_margin is None, name
    assert differ(config.mnist_ema_mixture, config.mnist) == {'preset', 'ema_decay', 'prior', 'out_dir'}  # sampled
    assert differ(config.mnist_balance, config.mnist_ema_mixture) == {'preset', 'balance_margin', 'out_dir'}
    assert config.mnist_balance.balance_margin == 0.35  # the official model/aegan.py's margin


def test_dataset_naming_another_presets_data_asks_for_the_preset():
    with pytest.raises(UsageError, match='--dataset=celeb_a would feed celeb_a to the mnist preset.s networks: '
                                         'write --preset=celeb_a'):
        configurator.from_args(['--dataset=celeb_a'])
    cfg = configurator.from_args(['--preset=mnist', '--dataset=fashion_mnist'])  # said twice: meant
    assert (cfg.preset, cfg.dataset, cfg.arch) == ('mnist', 'fashion_mnist', 'mnist')
    assert configurator.from_args(['--preset=celeb_a_paper', '--dataset=celeb_a']).dataset == 'celeb_a'


def test_saved_config_round_trip_and_files_this_version_did_not_write(tmp_path):
    import json
    cfg = configurator.from_args(['--preset=celeb_a_paper', '--z_dim=64'])
    path = tmp_path / 'config.json'
    path.write_text(json.dumps(dataclasses.asdict(cfg)))
    assert configurator.from_saved(str(path)) == cfg
    lacking = dataclasses.asdict(cfg)
    del lacking['flip']
    for saved, message in ((lacking, 'no field flip'), (dict(dataclasses.asdict(cfg), preset='mnist_best'),
                                                         "unknown preset 'mnist_best'"),
                           (dict(dataclasses.asdict(cfg), wings=2), 'unknown field wings')):
        path.write_text(json.dumps(saved))
        with pytest.raises(UsageError, match=f'config.json is not a config this version wrote \\({message}\\)'):
            configurator.from_saved(str(path))
    for text, message in (('[1]', 'not a JSON object'), ('{"z_dim": ', 'cannot be read as a config')):
        path.write_text(text)
        with pytest.raises(UsageError, match=message):
            configurator.from_saved(str(path))


def test_a_script_s_own_flags_parse_with_the_config_fields():
    @dataclasses.dataclass(frozen=True)
    class Flags:
        count: int = 1
        verbose: bool = False
    fields, flags = configurator.parse_flags(['--z_dim=4', '--count=3', '--verbose'], config.Config, Flags)
    assert fields == {'z_dim': 4} and flags == {'count': 3, 'verbose': True}
    with pytest.raises(UsageError, match=r"unknown field 'counts' \(did you mean --count\?\)$"):
        configurator.parse_flags(['--counts=3'], config.Config, Flags)
    with pytest.raises(UsageError, match="unknown field 'wings'; valid fields: preset, dataset.*, count, verbose"):
        configurator.parse_flags(['--wings=3'], config.Config, Flags)
    with pytest.raises(UsageError, match='--count=x: expected int'):
        configurator.parse_flags(['--count=x'], config.Config, Flags)


def test_overrides_are_parsed_to_the_fields_types():
    cfg = configurator.from_args(['--preset=celeb_a', '--epochs=3', '--lr_decoder=2e-4', '--cache=true',
                            '--steps_per_epoch=7', '--kl_weight=sigmoid', '--out_dir=/tmp/x'])
    assert cfg.preset == cfg.dataset == 'celeb_a' and cfg.z_dim == 128  # the preset, then the overrides
    assert cfg.epochs == 3 and isinstance(cfg.epochs, int)
    assert cfg.lr_decoder == 2e-4 and cfg.cache is True and cfg.steps_per_epoch == 7
    assert cfg.kl_weight == 'sigmoid' and cfg.out_dir == '/tmp/x'
    assert configurator.from_args(['--steps_per_epoch=None']).steps_per_epoch is None
    assert configurator.from_args(['--kl_weight=0.5']).kl_weight == '0.5'


@pytest.mark.parametrize('args, message', [
    (['--preset=svhn'], "unknown preset 'svhn'"),
    (['--preset=mnist_best'], "unknown preset 'mnist_best': pick one of mnist, mnist_sigmoid"),
    (['--batchsize=3'], "unknown field 'batchsize' (did you mean --batch_size?)"),
    (['-epochs=3'], "bad argument '-epochs=3': flags take two dashes, --epochs=3"),
    (['--z-dim=3'], "unknown field 'z-dim' (did you mean --z_dim?)"),
    (['--epoch=3'], "unknown field 'epoch' (did you mean --epochs?)"),
    (['--wings=3'], "unknown field 'wings'; valid fields: preset"),
    (['--epochs=three'], '--epochs=three: expected int'),
    (['--cache=maybe'], 'expected true or false'),
    (['--batch_size=0'], 'batch_size must be at least 1'),
    (['--epochs=-1'], 'epochs must be at least 1'),
    (['--kl_weight=big'], "kl_weight must be '1/batch', '1/z_dim', 'sigmoid' or a number"),
    (['--kl_weight=-1'], 'kl_weight must be'),
    (['--lr_encoder=-0.1'], 'lr_encoder must be >= 0'),
    (['--z_dim=1000000000000000000000000000000'], 'z_dim must be below 2.*31, not 1000000000000000000000000000000'),
    (['--preset=celeb_a', '--image_size=30'], 'divisible by 8'),
    (['epochs=3'], "bad argument 'epochs=3': flags take two dashes, --epochs=3"),
    (['--epochs'], "write --field=value, e.g. --epochs=..."),  # only a bool field may stand alone
])
def test_bad_overrides_name_the_problem(args, message):
    with pytest.raises(UsageError, match=message.replace('(', r'\(').replace(')', r'\)').replace('?', r'\?')):
        configurator.from_args(args)


def test_unknown_field_error_lists_every_field():
    with pytest.raises(UsageError) as error:
        configurator.from_args(['--nope=1'])
    for name in ('preset', 'dataset', 'epochs', 'batch_size', 'z_dim', 'out_dir', 'steps_per_epoch', 'kl_weight',
                 'seed', 'sample_every', 'checkpoint_every', 'data_dir'):
        assert name in str(error.value)


def test_the_folder_preset_wants_a_folder_and_keeps_every_epoch(tmp_path):
    with pytest.raises(UsageError, match='--data_dir'):
        configurator.from_args(['--preset=folder'])
    cfg = configurator.from_args(['--preset=folder', f'--data_dir={tmp_path}'])
    assert (cfg.arch, cfg.image_size, cfg.channels, cfg.batch_size) == ('mnist', 28, 1, 64)  # small and fast
    assert (cfg.checkpoint_every, cfg.sample_every, cfg.eval_every, cfg.metric_features) == (1, 1, 0, 'none')
