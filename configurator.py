"""Reading an experiment: `--field=value` flags parsed to each field's type, a run's config.json loaded,
every field checked (each fault one UsageError line); and the resume policy (for_training)."""
import dataclasses
import difflib
import math
import os
import re
import typing

import config
import run_folder
from config import Config, PRESETS
from run_folder import UsageError  # noqa: F401 (the scripts' one error, also as configurator.UsageError)


ARCH_FIELDS = ('arch', 'image_size', 'channels', 'z_dim')  # what a checkpoint's shapes depend on
# What a run keeps for its whole life (networks and optimizer slots, data, seed; ema_decay, ada_target as on or off)
FIXED_FIELDS = ARCH_FIELDS + ('optimizer', 'dataset', 'data_dir', 'train_split', 'crop_fraction', 'crop_box',
                              'blur_sigma', 'resize_method', 'seed', 'ema_decay', 'ada_target')
# Fields newer than some runs' config.json: without them, their defaults (what that version did)
LATER_FIELDS = ('r1_gamma', 'ema_decay', 'prior', 'prior_components', 'prior_images', 'lr_decay_from', 'augment',
                'augment_p', 'ada_target', 'ada_images', 'adaptive_gan_weight')
FIELDS = [f.name for f in dataclasses.fields(Config)]
PATH_FIELDS = ('out_dir', 'data_dir', 'checkpoint', 'export')  # '~' means the home folder, as in a shell
PRESET_FILE = 'preset.json'  # beside a run's config.json: config.py's preset as the run last started with it
PRECISIONS = {'false': 'float32', 'float16': 'mixed_float16', 'bfloat16': 'mixed_bfloat16'}  # -> Keras policy
TYPE_NAMES = {int: 'a whole number', float: 'a number', bool: 'true or false', str: 'a string',
              typing.Optional[int]: 'a whole number or null', typing.Optional[float]: 'a number or null'}


def checked(cfg):
    """Raises UsageError naming the first bad field; returns cfg, data_dir's '~' expanded, metric_features 'auto'
    resolved to the networks that fit the data (config.py says which)."""
    for field in dataclasses.fields(Config):  # an edit of config.py as strict as a flag: 'fast' is no rate
        value = getattr(cfg, field.name)
        if not _is_of(field.type, value):
            raise UsageError(f'{field.name} must be {TYPE_NAMES[field.type]}, not {value!r} (config.py\'s '
                             f'{cfg.preset!r} preset, if no flag set it)')
        if field.name in PATH_FIELDS and not_utf8(value):
            raise UsageError(f'{field.name} {value!r} is not UTF-8 text, which TensorFlow\'s paths must be: rename it')
    features = ('none' if cfg.data_dir else 'classifier,mlp' if cfg.dataset in ('mnist', 'fashion_mnist')
                else 'inception') if cfg.metric_features == 'auto' else cfg.metric_features
    cfg = dataclasses.replace(cfg, metric_features=features, data_dir=os.path.expanduser(cfg.data_dir))
    _check_choices(cfg)
    _check_values(cfg)
    _check_combinations(cfg)
    return cfg


def _check_values(cfg):
    """Numbers in their ranges, every float finite."""
    for field in dataclasses.fields(Config):  # inf and nan fail later and obscurely; TensorFlow's ints are 32-bit
        value = getattr(cfg, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f'{field.name} must be a finite number, not {value}')
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2 ** 31:
            raise UsageError(f'{field.name} must be below 2**31, not {value}')
    for name in ('gamma_enc', 'gamma_dec', 'init_stddev', 'equilibrium', 'gan_log_offset', 'kernel_l2', 'epsilon',
                 'r1_gamma', 'blur_sigma', 'lr_end', 'lr_encoder', 'lr_decoder', 'lr_discriminator', 'balance_margin',
                 'histogram_every', 'eval_every', 'adaptive_gan_weight'):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 0:  # None: off
            raise UsageError(f'{name} must be >= 0, not {getattr(cfg, name)}')
    for name in ('epochs', 'batch_size', 'z_dim', 'image_size', 'shuffle_buffer', 'sample_every',
                 'checkpoint_every', 'log_every', 'steps_per_epoch', 'ada_images'):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:  # None: the whole dataset
            raise UsageError(f'{name} must be at least 1, not {getattr(cfg, name)}')
    if cfg.kl_weight not in ('1/batch', '1/z_dim', 'sigmoid'):
        try:
            number = float(cfg.kl_weight)
        except ValueError:
            number = -1.0
        if not (math.isfinite(number) and number >= 0):
            raise UsageError(f"kl_weight must be '1/batch', '1/z_dim', 'sigmoid' or a number >= 0, "
                             f"not {cfg.kl_weight!r}")
    if cfg.seed < 0:  # (below 2**31: the rule above)
        raise UsageError(f'seed must be a whole number from 0 to {2 ** 31 - 1}, not {cfg.seed}')
    if cfg.real_vs_gen_weight in (0, 1):
        raise UsageError(f'real_vs_gen_weight {cfg.real_vs_gen_weight:g} would leave D no '
                         f'{"real" if cfg.real_vs_gen_weight == 0 else "fake"} term to learn from: pass a number '
                         f'between 0 and 1')
    for name in ('recon_vs_gan_weight', 'real_vs_gen_weight'):
        if getattr(cfg, name) is not None and not 0 <= getattr(cfg, name) <= 1:
            raise UsageError(f'{name} must be in [0, 1] (or None), not {getattr(cfg, name)}')
    for name in ('augment_p', 'ada_target'):
        if getattr(cfg, name) is not None and not 0 <= getattr(cfg, name) <= 1:  # ada_target None: off
            raise UsageError(f'{name} must be in [0, 1], not {getattr(cfg, name)}')
    for name in ('lr_decay_from', 'ema_decay', 'beta1'):
        if getattr(cfg, name) is not None and not 0 <= getattr(cfg, name) < 1:  # ema_decay None: off
            raise UsageError(f'{name} must be in [0, 1), not {getattr(cfg, name)}')
    if cfg.prior_components < 1 or cfg.prior_images < 2 * cfg.prior_components:
        raise UsageError(f'prior_components must be at least 1 and prior_images at least twice as many, not '
                         f'{cfg.prior_components} and {cfg.prior_images}')
    if cfg.eval_samples < 4:  # precision and recall need 3 neighbours of each image
        raise UsageError(f'eval_samples must be at least 4, not {cfg.eval_samples}')
    if cfg.eval_every and not cfg.validation_split:
        raise UsageError('eval_every needs a validation_split to score on (e.g. train[:5000]), or pass --eval_every=0')
    if cfg.validation_split and cfg.validation_split in (cfg.held_out_split, cfg.train_split):
        which = 'held_out_split' if cfg.validation_split == cfg.held_out_split else 'train_split'
        raise UsageError(f'validation_split {cfg.validation_split!r} is also the {which}: the best model must be '
                         f'chosen on images it neither trains on nor is reported on; pass another split')
    if not 0 < cfg.crop_fraction <= 1:
        raise UsageError(f'crop_fraction must be in (0, 1], not {cfg.crop_fraction}')
    for name in ('train_split', 'held_out_split', 'validation_split'):
        _check_split(name, getattr(cfg, name), optional=name == 'validation_split')


_SLICE = r'(-?\d+)(%?)'
_PART = re.compile(rf'([A-Za-z_][\w-]*)(?:\[(?:{_SLICE})?:(?:{_SLICE})?\])?')


def _check_split(name, split, optional=False):
    """A tensorflow-datasets split string: NAME, NAME[a:b] (images, or percent with %) or such parts
    joined by +, each slice holding images (train[:0] holds none)."""
    if optional and split == '':
        return
    form = (f"{name} must be a split such as 'train', 'train[5000:]', 'train[:10%]' or 'train[:5000]+test'"
            + (" ('' = none)" if optional else ''))
    for part in split.split('+'):
        match = _PART.fullmatch(part.strip())
        if not match:
            raise UsageError(f'{form}, not {split!r}')
        start, start_unit, stop, stop_unit = match.groups()[1:]
        if stop is not None and (int(stop) == 0 or (start is not None and start_unit == stop_unit
                                                    and int(start) >= int(stop) > 0)):  # (so start > 0)
            raise UsageError(f'{name} {split!r}: the slice {part.strip()!r} holds no images; {form}')


def _check_choices(cfg):
    """Fields that name one of a few settings, or a folder, a box or a list (the preset: preset_of, from_saved)."""
    for name, allowed in (('arch', ('mnist', 'celeb_a', 'paper')), ('optimizer', ('adam', 'deeppy_rmsprop')),
                          ('kernel_init', ('default', 'autofiller')),
                          ('lr_schedule', ('constant', 'annealed', 'linear')),
                          ('dis_l_likelihood', ('mean', 'gaussian')),
                          ('gan_loss', ('non_saturating', 'saturating')), ('mixed_precision', tuple(PRECISIONS)),
                          ('resize_method', ('bilinear', 'bicubic', 'area', 'nearest', 'lanczos3')),
                          ('strategy', ('default', 'mirrored')), ('channels', (1, 3)),
                          ('update', ('sequential', 'simultaneous')), ('prior', ('normal', 'mixture'))):
        if getattr(cfg, name) not in allowed:  # two as 'a' or 'b', more as: one of a, b, c
            choices = ' or '.join(map(repr, allowed)) if len(allowed) == 2 else 'one of ' + ', '.join(allowed)
            raise UsageError(f"{name} must be {choices}, not {getattr(cfg, name)!r}")
    unknown = [kind for kind in cfg.augment.split(',') if kind not in ('translation', 'cutout', 'color')]
    if cfg.augment and unknown:
        raise UsageError(f"augment must be a comma list of translation, cutout and color, or '', not {cfg.augment!r}")
    if not cfg.dataset and not cfg.data_dir:
        raise UsageError('no data: pass --data_dir=FOLDER, a folder of images, or --dataset=NAME, a '
                         'tensorflow-datasets dataset')
    if cfg.crop_box and not (len(cfg.crop_box.split(',')) == 4 and all(
            v.strip().isdigit() for v in cfg.crop_box.split(','))):
        raise UsageError(f"crop_box must be 'top,left,height,width' in pixels, not {cfg.crop_box!r}")
    if cfg.metric_features != 'none' and (not cfg.metric_features or any(
            f not in ('classifier', 'mlp', 'inception') for f in cfg.metric_features.split(','))):
        raise UsageError(f"metric_features must be 'auto', 'none' or a comma list of classifier, mlp and inception, "
                         f"not {cfg.metric_features!r}")
    if not cfg.out_dir:
        raise UsageError('out_dir must not be empty')


def _check_combinations(cfg):
    """Settings that need or exclude others."""
    if cfg.update == 'simultaneous' and cfg.fresh_batches:
        raise UsageError("update='simultaneous' shares one forward pass, so one batch: add --fresh_batches=false")
    if cfg.balance_margin is not None and cfg.strategy != 'default':  # tf.cond around cross-replica updates
        raise UsageError('balance_margin (the balance rule) works on one device: drop --balance_margin, '
                         'or use --strategy=default')
    levers = [name for name, off in (('r1_gamma', 0.0), ('augment', ''), ('ada_target', None),
                                     ('adaptive_gan_weight', None)) if getattr(cfg, name) != off]
    if levers and cfg.update != 'sequential':  # (the R1 penalty, the augmentation, the adaptive weight)
        raise UsageError(f'{levers[0]} is built into the sequential step: drop --{levers[0]}, or use '
                         f'--update=sequential')
    if cfg.ada_target is not None and not cfg.augment:
        raise UsageError('ada_target adapts the augmentation\'s chance: add --augment=translation,cutout (say)')
    if cfg.adaptive_gan_weight is not None and cfg.recon_vs_gan_weight is not None:
        raise UsageError('adaptive_gan_weight weighs the GAN term against gamma_dec * Dis_l: drop '
                         '--recon_vs_gan_weight')
    if cfg.concat_batches and cfg.update != 'simultaneous':
        raise UsageError('concat_batches joins the batches of one forward pass: add --update=simultaneous')
    if cfg.jit_compile and cfg.strategy != 'default':
        raise UsageError('jit_compile works on one device: drop --jit_compile or use --strategy=default')
    if cfg.arch != 'mnist' and cfg.image_size % 8:
        raise UsageError(f'the {cfg.arch} arch needs an image_size divisible by 8, not {cfg.image_size}')
    digits = set(cfg.metric_features.split(',')) & {'classifier', 'mlp'}
    if digits and cfg.data_dir and (cfg.image_size, cfg.channels) != (28, 1):
        raise UsageError(f'metric_features {",".join(sorted(digits))}: those networks read 28x28 grey digits, not '
                         f'{cfg.image_size}x{cfg.image_size}x{cfg.channels} images: pass --metric_features=inception '
                         f'or none')


def changed(saved, asked, fields=FIXED_FIELDS):
    """The fields among `fields` on which `asked` (a Config, or {field: value}) would change the run `saved`:
    the weights' average counts by whether there is one, a folder by its path."""
    values = asked if isinstance(asked, dict) else dataclasses.asdict(asked)
    return [f for f in fields if f in values and _setting(f, values[f]) != _setting(f, getattr(saved, f))]


def _setting(field, value):
    if field in ('ema_decay', 'ada_target'):  # (each keeps variables of its own in the checkpoint)
        return value is not None
    return os.path.normpath(value) if field == 'data_dir' and value else value


def check_same_model(out_dir, saved, asked):
    """Refuses out_dir's run (config `saved`) as another preset or architecture than `asked` names."""
    for field in changed(saved, asked, ('preset',) + ARCH_FIELDS)[:1]:
        kind = 'preset' if field == 'preset' else 'model'
        raise UsageError(f'{out_dir} holds a checkpoint of another {kind} ({field}={getattr(saved, field)!r} '
                         f'there, {asked[field]!r} asked for): drop --{field}, or pass another --out_dir')


def _parse_value(kind, name, text):
    """Parses text to the type of field `name` of the dataclass `kind`; a path's '~' is the home folder. A
    number is written in ASCII without '_' or spaces (Python would read --epochs=3_0 as 30)."""
    if name in PATH_FIELDS and text.startswith('~'):
        text = os.path.expanduser(text)
    kind = kind.__dataclass_fields__[name].type
    if kind in (typing.Optional[int], typing.Optional[float]):
        if text.lower() in ('none', ''):
            return None
        kind = typing.get_args(kind)[0]
    try:
        if kind is bool:
            return {'true': True, '1': True, 'false': False, '0': False}[text.lower()]
        if kind in (int, float) and (not text.isascii() or '_' in text or text != text.strip()):
            raise ValueError
        return kind(text)
    except (KeyError, ValueError):
        raise UsageError(f'--{name}={text}: expected {kind.__name__ if kind is not bool else "true or false"}')


def parse_flags(args, *kinds):
    """['--field=value', ...] -> one dict per dataclass in `kinds`: {field: value parsed to its type}.
    A bool field may stand alone: --metrics is --metrics=true. Every script parses with this."""
    known = {f.name: kind for kind in kinds for f in dataclasses.fields(kind)}
    flags = [{} for _ in kinds]
    for arg in args:
        name, eq, text = arg[2:].partition('=')
        if arg.startswith('--') and not eq and known.get(name) and known[name].__dataclass_fields__[name].type is bool:
            eq, text = '=', 'true'
        bare = arg.lstrip('-').partition('=')[0]
        if not arg.startswith('--') and bare in known:
            raise UsageError(f'bad argument {arg!r}: flags take two dashes, --{arg.lstrip("-")}')
        if name not in known and arg.startswith('-'):  # a near name (--z-dim, --epoch, --zdim) named
            spelled = name.lstrip('-').replace('-', '_').lower()
            close = difflib.get_close_matches(spelled, known, n=1, cutoff=0.75) or [
                k for k in known if k.replace('_', '') == spelled.replace('_', '')]
            hint = f' (did you mean --{close[0]}?)' if close else f'; valid fields: {", ".join(known)}'
            raise UsageError(f'unknown field {bare!r}{hint}')
        if not arg.startswith('--') or not eq:
            example = f', e.g. --{name}=...' if name in known else ''
            raise UsageError(f'bad argument {arg!r}: write --field=value{example}')
        flags[kinds.index(known[name])][name] = _parse_value(known[name], name, text)
    return flags


def parse_overrides(args):
    """['--field=value', ...] -> {config field: value parsed to the field's type}."""
    return parse_flags(args, Config)[0]


def preset_of(overrides):
    """The preset --preset names (default: PRESET); a --dataset naming another preset's data needs --preset."""
    name = overrides.get('preset', config.PRESET)
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r}: pick one of {', '.join(PRESETS)}")
    asked = overrides.get('dataset')
    if 'preset' not in overrides and asked in PRESETS and asked != PRESETS[name].dataset:
        raise UsageError(f'--dataset={asked} would feed {asked} to the {name} preset\'s networks: write '
                         f'--preset={asked} for the {asked} preset (or add --preset={name} if you mean it)')
    return PRESETS[name]


def from_args(args):
    """The preset chosen by --preset (default: PRESET) with the other --field=value overrides."""
    return from_overrides(parse_overrides(args))


def from_overrides(overrides):
    """The preset that overrides['preset'] names (default: PRESET) with the other overrides on top."""
    return checked(dataclasses.replace(preset_of(overrides), **overrides))


def for_run(overrides):
    """(cfg, changes) for rendering: out_dir's config.json (else --preset's preset) with the overrides on top;
    changes: a line naming each setting they changed from the run's, '' if none."""
    out_dir = overrides.get('out_dir', preset_of(overrides).out_dir)
    saved = run_config(out_dir)
    if saved is None:  # no run there
        return from_overrides(overrides), ''
    check_same_model(out_dir, saved, overrides)
    cfg = checked(dataclasses.replace(saved, **dict(overrides, out_dir=out_dir)))
    given = [f'{f} {getattr(saved, f)!r} -> {v!r}' for f, v in overrides.items()
             if f != 'out_dir' and v != getattr(saved, f)]
    return cfg, (f'settings from {config_file(out_dir)}; changed on the command line: {", ".join(given)}'
                 if given else '')


def config_file(folder):
    """The config.json of a run or an export: every field, as vae_gan.py writes it."""
    return os.path.join(folder, 'config.json')


def run_config(folder):
    """The Config in folder's config.json, or None when there is none (a folder there: from_saved refuses it)."""
    return from_saved(config_file(folder)) if os.path.exists(config_file(folder)) else None


def from_saved(path):
    """The Config a run saved as config.json (every field, as vae_gan.py writes it)."""
    try:
        saved = run_folder.read_json(path)
    except run_folder.Unreadable as e:
        raise UsageError(f'{path} cannot be read as a config ({e}): restore it from a copy, or delete it '
                         f'and pass the run\'s settings as --field=value') from e
    saved = {**{f: getattr(Config(), f) for f in LATER_FIELDS}, **saved}  # written before they existed: off
    unknown, missing = sorted(set(saved) - set(FIELDS)), [f for f in FIELDS if f not in saved]
    if unknown or missing or not isinstance(saved['preset'], str) or saved['preset'] not in PRESETS:
        why = (f'unknown field {unknown[0]}' if unknown else f'no field {missing[0]}' if missing
               else f'unknown preset {saved["preset"]!r}')
        raise UsageError(f'{path} is not a config this version wrote ({why}): edit the file to hold exactly '
                         f'config.py\'s fields, or pass another --out_dir')
    for field in dataclasses.fields(Config):  # as strict as the flags: "3" is not an epoch count
        value = saved[field.name]
        if not _is_of(field.type, value):
            raise UsageError(f'{path}: {field.name} must be {TYPE_NAMES[field.type]}, not {value!r}: fix that '
                             f'value, or delete the file and pass the run\'s settings as --field=value')
        if field.type in (float, typing.Optional[float]) and value is not None:
            saved[field.name] = float(value)  # JSON's 1 for 1.0
    try:
        return checked(Config(**saved))
    except UsageError as e:  # values of the file, not of the command line: said so
        raise UsageError(f'{path} holds a setting this version refuses: {e} (read from that file, not the command '
                         f'line: edit the file, or delete it and pass the run\'s settings as --field=value)') from e


def not_utf8(text):
    """Whether a path's text cannot be UTF-8 (a byte os.fsdecode escaped, a lone surrogate from JSON)."""
    return text.encode('utf-8', 'replace').decode() != text


def _is_of(kind, value):
    """Whether a JSON value has the field type `kind` (an int counts as a float; a bool as neither)."""
    if kind in (typing.Optional[int], typing.Optional[float]):
        return value is None or _is_of(typing.get_args(kind)[0], value)
    if isinstance(value, bool):
        return kind is bool
    return isinstance(value, (int, float) if kind is float else kind)


# ---- The resume policy --------------------------------------------------------------------------------

def for_training(overrides):
    """(cfg, line) for `python vae_gan.py`: config.py's preset (--preset's, else the run's, else PRESET)
    with the flags on top. A run keeps its FIXED_FIELDS: a flag, or an edit of config.py since the run
    last started (PRESET_FILE), that changes one is refused. line: where the settings came from."""
    preset = preset_of(overrides)
    out_dir = overrides.get('out_dir', preset.out_dir)
    run_folder.for_out_dir(out_dir)
    unseen_checkpoints(out_dir)
    saved = run_config(out_dir)
    if saved and 'preset' not in overrides:
        preset = config.PRESETS[saved.preset]
    flags = [f'{f}={v}' for f, v in overrides.items() if f not in ('preset', 'out_dir')]
    line = f"settings: config.py's {preset.preset} preset" + (f", with {', '.join(flags)} from the command line"
                                                             if flags else '')
    if saved is None:
        cfg = checked(dataclasses.replace(preset, **dict(overrides, out_dir=out_dir)))
        line += f' (a new run in {out_dir})'
    else:
        check_same_model(out_dir, saved, {'preset': preset.preset})
        before = _started_with(out_dir, saved)
        edited = {f for f in FIXED_FIELDS if f in before and before[f] != getattr(preset, f)}
        kept = {f: getattr(saved, f) for f in FIXED_FIELDS if f not in overrides and f not in edited}
        cfg = checked(dataclasses.replace(preset, **dict(overrides, **kept, out_dir=out_dir)))
        fixed = changed(saved, cfg)
        if fixed:
            raise UsageError(_refusal(out_dir, saved, cfg, overrides, fixed))
        differ = [f'{f} {getattr(saved, f)!r} -> {getattr(cfg, f)!r} ('
                  + ('command line' if f in overrides else 'config.py') + ')'
                  for f in FIELDS if f != 'out_dir' and getattr(cfg, f) != getattr(saved, f)]
        line += ('; changed since the run last started: ' + ', '.join(differ) if differ
                 else '; as when the run last started')
    if cfg.data_dir:
        run_folder.not_owned(cfg.data_dir, '--data_dir', 'copy the images to a folder of their own and pass that')
    return cfg, line


def _started_with(out_dir, saved):
    """config.py's preset as the run in out_dir (config `saved`) last started with it (PRESET_FILE), {} if
    none; one UsageError if it does not read, or if config.json names another preset (an edit of config.json)."""
    path = os.path.join(out_dir, PRESET_FILE)
    try:
        before = run_folder.read_json(path) if os.path.lexists(path) else {}
    except run_folder.Unreadable as e:
        raise UsageError(f'{path} cannot be read ({e}): delete it (the run writes it again; an edit of config.py '
                         f'since the run last started then goes unseen)') from e
    if before.get('preset', saved.preset) != saved.preset:
        raise UsageError(f'{config_file(out_dir)} names the preset {saved.preset!r}, but the run last started with '
                         f'{before["preset"]!r} ({PRESET_FILE}): put "preset": "{before["preset"]}" back in that '
                         f'config.json')
    return before


def _refusal(out_dir, saved, cfg, overrides, fixed):
    """The refusal of a change to FIXED_FIELDS, with the commands to go on as it was or to start anew."""
    field = fixed[0]
    source = ('the command line asks for' if field in overrides else
              f"config.py's {cfg.preset} preset now has (edited since the run last started)")
    preset = config.PRESETS[cfg.preset]
    flag = lambda f, v: f'--{f}={"None" if v is None else v}'
    keep = {f: v for f, v in overrides.items() if f not in fixed}
    keep.update({f: getattr(saved, f) for f in fixed if getattr(saved, f) != getattr(preset, f)})
    keep.setdefault('out_dir', out_dir)
    new = {'preset': cfg.preset} if cfg.preset != config.PRESET else {}
    new.update({f: getattr(saved, f) for f in FIXED_FIELDS
                if f not in fixed and getattr(saved, f) != getattr(preset, f)})
    new.update({f: v for f, v in overrides.items() if f not in ('out_dir', 'preset')})
    parent, name = os.path.split(os.path.normpath(out_dir))
    new['out_dir'] = os.path.join(parent or 'runs', re.sub(r'[^\w.-]', '_', f'{name}-{field}-{getattr(cfg, field)}'))
    script = run_folder.command('vae_gan.py')
    return (f'{out_dir} was trained with {field}={getattr(saved, field)!r} and {source} {getattr(cfg, field)!r}'
            + (f' (also {", ".join(fixed[1:])})' if fixed[1:] else '') + ': a run keeps its networks, data and seed. '
            f'Go on with it: `{script} {" ".join(flag(f, v) for f, v in keep.items())}`; or train the new setting '
            f'as a new run beside it: `{script} {" ".join(flag(f, v) for f, v in new.items())}`')


def unseen_checkpoints(out_dir):
    """Refuses a run that has trained (scores.jsonl, best/ or grids remain) but cannot see its checkpoints:
    going on would start it over on top of its own scores."""
    folder = run_folder.checkpoint_folder(out_dir)
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise UsageError(f'{folder} is not a folder, so the run cannot see its checkpoints: move it away (or put the '
                         f'checkpoints back there) and run again')
    try:
        held = [n for n in os.listdir(folder) if run_folder.CHECKPOINT.fullmatch(n)] if os.path.isdir(folder) else []
    except OSError as e:
        raise UsageError(f'cannot read {folder} ({e.strerror or e}): fix its permissions and run again') from e
    try:
        lines = [record for _, record in run_folder.read_records(os.path.join(out_dir, 'scores.jsonl'))]
    except run_folder.Unreadable:  # something in its place: it trained
        lines = [None]
    # D's records alone (vae_gan.log_overfitting) come every epoch, before the first checkpoint too: as the grids
    watched = [record['epoch'] for record in lines if record and set(record) == {'epoch', 'step', 'overfitting'}]
    trained = len(watched) < len(lines) or os.path.isdir(run_folder.best_folder(out_dir))  # a scoring, say
    try:  # or its grids (op-gen/epoch_N.png) or D's records go past config.json's checkpoint_every: it saved one
        every = run_folder.read_json(config_file(out_dir))['checkpoint_every']
        grids = run_folder.entries(os.path.join(out_dir, 'op-gen'))
        epochs = [int(m.group(1)) for m in map(run_folder.GRID.fullmatch, grids) if m] + watched
        trained = trained or (isinstance(every, int) and any(epoch > every for epoch in epochs))
    except (run_folder.Unreadable, KeyError, TypeError):  # config.json itself is checked when it is read
        pass
    if not held and trained:
        raise UsageError(f'{out_dir} has trained (its scores.jsonl, best/ or grids remain) but {folder} holds no '
                         f'checkpoint: put its checkpoints back to go on, or train a new run, such as --out_dir='
                         f'{os.path.normpath(out_dir)}-new (--checkpoint=best renders its best model); if it never '
                         f'saved one, remove its op-*/ grids to start it over')
