"""Every path a user can hand a command: a run never trains into an export or into the folders a run
writes itself, never starts over when it cannot see its checkpoints, never writes through a link in
its lock's place; an export is never mixed with a second one started at the same time."""
import json
import os
import shutil

import pytest

import checkpoints
import configurator
import run_folder
import vae_gan
import vae_gan_inference as inference
from conftest import TINY, contents
from test_faults import _epochs_in, _fails, _hashes, _resumes_at


def _refused(main, args, capsys, *words):
    """main(args) ends in one error line holding each of `words`; returns the line."""
    with pytest.raises(SystemExit) as stop:
        main(args)
    line = str(stop.value.code)
    assert line.startswith('error: ') and '\n' not in line, line
    for word in words:
        assert word in line, line
    return line


@pytest.fixture
def export(run_copy, tmp_path):
    """An export of the shared run's newest checkpoint, as MNIST/pretrained is one."""
    inference.main([f'--checkpoint={run_copy}/checkpoints/ckpt-2', f'--export={tmp_path / "export"}'])
    return tmp_path / 'export'


def test_a_run_never_trains_into_an_export_or_a_run_s_own_folders(run_copy, export, tmp_path, capsys):
    (run_copy / 'samples' / 'x').mkdir(parents=True)
    before_run, before_export = contents(run_copy), contents(export)
    line = _refused(vae_gan.main, TINY + [f'--out_dir={export}'], capsys, 'is an exported model, not a run',
                    f'--checkpoint={export}')
    assert f'--out_dir={export}-run' in line
    for inside in (run_copy / 'samples' / 'x', run_copy / 'best', run_copy / 'best' / 'x', run_copy / 'checkpoints',
                   run_copy / 'op-gen', run_copy / 'logs' / 'new', export / 'sub'):
        line = _refused(vae_gan.main, TINY + [f'--out_dir={inside}'], capsys, 'pass a folder outside it')
        suggested = line.split('such as --out_dir=')[1]
        assert configurator.for_training(configurator.parse_overrides(TINY + [f'--out_dir={suggested}']))  # accepted
    # what the refusals name, and nothing written anywhere
    assert 'writes itself' in _refused(vae_gan.main, TINY + [f'--out_dir={run_copy / "samples"}'], capsys)
    assert contents(run_copy) == before_run and contents(export) == before_export
    assert not os.path.exists(run_copy / 'best') and not os.path.exists(export / 'sub')
    # a render's message for an export's missing checkpoints/ points at --checkpoint, not at training into it
    _refused(inference.main, [f'--out_dir={export}', '--checkpoint=newest'], capsys, 'is an exported model',
             f'--checkpoint={export}')


def test_renders_and_exports_never_land_inside_a_run_s_own_folders_or_an_export(run_copy, export, tmp_path, capsys):
    ckpt = f'--checkpoint={run_copy}/checkpoints/ckpt-2'
    before = contents(run_copy)
    _refused(inference.main, [ckpt, f'--out_dir={run_copy / "samples" / "mine"}'], capsys, 'writes itself')
    _refused(inference.main, [ckpt, f'--out_dir={export / "renders"}'], capsys, 'inside the exported model')
    _refused(inference.main, [ckpt, f'--export={export / "again"}'], capsys, 'inside the exported model')
    _refused(inference.main, [ckpt, f'--export={run_copy / "best"}'], capsys, 'writes itself')
    os.symlink(tmp_path / 'elsewhere', tmp_path / 'link')
    _refused(inference.main, [ckpt, f'--export={tmp_path / "link"}'], capsys, 'is a symbolic link')
    assert contents(run_copy) == before and not os.path.exists(tmp_path / 'elsewhere')
    # an export renders into its own samples/ (the README's first command)
    inference.main([f'--checkpoint={export}', '--num_samples=2'])
    assert len(os.listdir(export / 'samples' / 'generations')) == 2


def test_a_run_that_cannot_see_its_checkpoints_refuses_and_one_of_another_architecture_is_set_aside(
        run_copy, tmp_path, capsys, monkeypatch):
    """Two cases, one training of each: the run whose checkpoints went away and came back goes on as the
    shared run's own command would (that run is the reference), and so does a run with a checkpoint of
    another architecture copied in, to the bit. That second training also has its grid folder replaced by
    a link once its epoch's checkpoint is saved (tests/test_checkpoint_order.py's faults, one training for both):
    the link is never written through, and the checkpoint saved before stays."""
    import dataclasses
    import numpy as np
    import tensorflow as tf
    import models
    reference = tmp_path / 'reference'
    shutil.copytree(run_copy, reference)
    # its checkpoints out of sight: refused, the scores kept; back in place, the run goes on where it was
    scores = json.dumps({'epoch': 2, 'step': 4, 'figure': 9.0}) + '\n'
    (reference / 'scores.jsonl').write_text(scores)
    os.rename(reference / 'checkpoints', reference / 'saved')
    (reference / 'checkpoints').write_text('a file in its place')
    _refused(vae_gan.main, TINY + [f'--out_dir={reference}', '--epochs=3'], capsys, 'is not a folder',
             'cannot see its checkpoints')
    os.remove(reference / 'checkpoints')  # gone: the run has scores, so it trained
    _refused(vae_gan.main, TINY + [f'--out_dir={reference}', '--epochs=3'], capsys, 'holds no checkpoint',
             'put its checkpoints back')
    _refused(inference.main, [f'--out_dir={reference}', '--checkpoint=newest'], capsys, 'holds no checkpoint')
    assert (reference / 'scores.jsonl').read_text() == scores and not os.path.exists(reference / 'op-gen' / 'x')
    os.rename(reference / 'saved', reference / 'checkpoints')  # back: the run goes on where it was
    # with three faults in other places (tests/test_faults.py's damaged checkpoints, one training for both): a
    # garbled index file (not trusted), what a cut-off save left (cleared), garbage in a lock left behind (taken
    # over with a note) that someone deletes while the run trains: the run ends as it would have (exit 0, its
    # checkpoint saved, the index file rewritten; to the bit, below)
    ckpts = reference / 'checkpoints'
    (ckpts / 'checkpoint').write_text('model_checkpoint_path: "ck\x00\x01')  # garbled
    (ckpts / 'ckpt-3_temp').mkdir()  # what a save cut off leaves
    (ckpts / 'ckpt-3_temp' / 'part-00000-of-00001.data-00000-of-00001').write_bytes(b'half')
    (reference / 'lock').write_bytes(b'\xff\xfe\x00\x81 not text')
    before = _hashes(ckpts)
    save = checkpoints.save
    monkeypatch.setattr(checkpoints, 'save', lambda *a, **k: (os.remove(reference / 'lock'), save(*a, **k))[1])
    vae_gan.main(TINY + [f'--out_dir={reference}', '--epochs=3'])
    monkeypatch.setattr(checkpoints, 'save', save)
    printed = capsys.readouterr().out
    assert 'resuming from' in printed and _epochs_in(ckpts) == 3
    assert 'removed ckpt-3_temp' in printed and not os.path.exists(ckpts / 'ckpt-3_temp')
    assert all(_hashes(ckpts)[n] == h for n, h in before.items())  # ckpt-1, ckpt-2 as they were
    assert tf.train.latest_checkpoint(str(ckpts)).endswith('ckpt-3')  # the index file rewritten whole
    assert 'taking over the lock of' in printed and 'not text' in printed and not os.path.exists(reference / 'lock')
    index = (ckpts / 'checkpoint').read_bytes()
    (ckpts / 'checkpoint').write_text('')  # empty: it parses, and names no checkpoint
    assert _resumes_at(reference) == 3  # from ckpt-3, not anew
    (ckpts / 'checkpoint').write_bytes(index)  # (as the run left it)
    capsys.readouterr()  # (what that resume printed)
    kept, added = (reference / 'scores.jsonl').read_text().split('\n', 1)  # its scores, then epoch 3's D record
    assert kept + '\n' == scores and set(json.loads(added)) == {'epoch', 'step', 'overfitting'}
    # a checkpoint of another architecture copied in: set aside, and the run goes on as the reference did
    other = dataclasses.replace(configurator.from_saved(str(run_copy / 'config.json')), z_dim=4)
    tf.train.Checkpoint(encoder=models.build_encoder(other), decoder=models.build_decoder(other),
                        epoch=tf.Variable(5, dtype=tf.int64)).write(str(run_copy / 'checkpoints' / 'ckpt-5'))
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    save_checkpoint = vae_gan.save_checkpoint

    def saved_then_linked(cfg, *args):  # the epoch's checkpoint saved, then op-gen/ becomes a link
        save_checkpoint(cfg, *args)
        shutil.rmtree(run_copy / 'op-gen')
        os.symlink(elsewhere, run_copy / 'op-gen')
    monkeypatch.setattr(vae_gan, 'save_checkpoint', saved_then_linked)
    with pytest.raises(SystemExit) as stop:
        vae_gan.main(TINY + [f'--out_dir={run_copy}', '--epochs=3'])
    assert 'op-gen is a symbolic link' in str(stop.value.code) and os.listdir(elsewhere) == []
    assert checkpoints.newest(str(run_copy / 'checkpoints')) == (str(run_copy / 'checkpoints' / 'ckpt-3'), 3)
    printed = capsys.readouterr().out
    assert 'ckpt-5 is a checkpoint of another architecture' in printed and 'kept as ckpt-5-other.*' in printed
    assert 'resuming from' in printed and 'ckpt-2' in printed.split('resuming from')[1].split('\n')[0]
    assert os.path.exists(run_copy / 'checkpoints' / 'ckpt-5-other.index')  # kept, never saved over
    got, want = (tf.train.load_checkpoint(str(r / 'checkpoints' / 'ckpt-3')) for r in (run_copy, reference))
    keys = set(want.get_variable_to_shape_map()) - {'_CHECKPOINTABLE_OBJECT_GRAPH'}  # (it holds layer names' counters)
    assert set(got.get_variable_to_shape_map()) - {'_CHECKPOINTABLE_OBJECT_GRAPH'} == keys
    for key in keys:
        assert np.array_equal(got.get_tensor(key), want.get_tensor(key)), key
    # the run folder replaced by a file during a save: the error names the save's folder, not the lock

    def gone(*args, **kwargs):
        shutil.rmtree(reference)
        reference.write_text('not a folder')
        return save(*args, **kwargs)
    monkeypatch.setattr(checkpoints, 'save', gone)
    line = _fails(vae_gan.main, TINY + [f'--out_dir={reference}', '--epochs=4', '--eval_every=0'],  # (no best/ first)
                  capsys, 'reference: Not a directory')
    assert '/lock' not in line


@pytest.mark.parametrize('kind', ['link', 'folder'])
def test_a_lock_that_is_a_link_or_a_folder_is_refused_and_nothing_written_through_it(run_copy, tmp_path, capsys, kind):
    target = tmp_path / 'precious.txt'
    target.write_text('keep me')
    if kind == 'link':
        os.symlink(target, run_copy / 'lock')
    else:
        (run_copy / 'lock').mkdir()
    _refused(vae_gan.main, TINY + [f'--out_dir={run_copy}', '--epochs=3'], capsys,
             'is a symbolic link' if kind == 'link' else 'is a folder', 'not a lock this repo wrote')
    assert target.read_text() == 'keep me' and not os.path.exists(run_copy / 'checkpoints' / 'ckpt-3.index')


def test_a_second_export_into_one_folder_refuses_while_the_first_writes(run_copy, tmp_path, capsys):
    folder = tmp_path / 'shared' / 'export'
    ckpt = f'--checkpoint={run_copy}/checkpoints/ckpt-2'
    (tmp_path / 'shared').mkdir()
    with run_folder.Lock(str(tmp_path / 'shared'), '.export.lock', 'being exported', subject=str(folder)):
        _refused(inference.main, [ckpt, f'--export={folder}'], capsys, 'is being exported by process')
    assert not os.path.exists(folder)
    inference.main([ckpt, f'--export={folder}'])  # the lock released: it goes through, then a second refuses
    _refused(inference.main, [ckpt, f'--export={folder}'], capsys, 'already holds an export of epoch 2')
    assert sorted(os.listdir(tmp_path / 'shared')) == ['export']  # no lock left beside it


def test_an_export_and_a_render_started_together_into_one_new_folder_never_mix(run_copy, tmp_path, capsys,
                                                                                  monkeypatch):
    """Both pass their checks while the folder is new; each checks again under its lock at its last rename:
    a render never lands its samples in an export written meanwhile, an export never replaces a folder a
    render wrote meanwhile. The one that comes second refuses and leaves the other's files as they are."""
    ckpt = f'--checkpoint={run_copy}/checkpoints/ckpt-2'
    first = tmp_path / 'first'
    render = inference.load_config([ckpt, f'--out_dir={first}', '--num_samples=2'])  # checked: a new folder
    inference.main([ckpt, f'--export={first}'])  # meanwhile, an export lands there
    exported = contents(first)
    with pytest.raises(configurator.UsageError, match='became an exported model while this render ran'):
        inference.render(*render)
    assert contents(first) == exported
    second = tmp_path / 'second'
    real = run_folder.written_folder

    def a_render_lands_meanwhile(path, *args):
        if os.path.basename(path) == 'second':
            inference.main([ckpt, f'--out_dir={second}', '--num_samples=2'])
        return real(path, *args)
    monkeypatch.setattr(run_folder, 'written_folder', a_render_lands_meanwhile)
    _refused(inference.main, [ckpt, f'--export={second}'], capsys, 'was written by another command meanwhile')
    assert sorted(os.listdir(second)) == ['samples'] and os.path.exists(second / 'samples' / 'generations.png')
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.second')]  # nothing of the export left


@pytest.mark.parametrize('flag, words', [
    ('--held_out_split=test[:0]', "the slice 'test[:0]' holds no images"),
    ('--validation_split=train[:zz', "validation_split must be a split such as 'train'"),
    ('--train_split=train[5000:100]', 'holds no images'),
    ('--train_split=train[::2]', "train_split must be a split such as"),
])
def test_a_split_string_is_checked_before_anything_loads(flag, words):
    with pytest.raises(configurator.UsageError, match=words.replace('[', r'\[')):
        configurator.for_training(configurator.parse_overrides([flag, '--out_dir=/nonexistent/run']))
    for good in ('train[:10%]', 'train[1%:5%]', 'train[-5000:]', 'train[:5000]+test'):
        configurator.checked(configurator.from_overrides({'held_out_split': good}))


def test_a_file_name_that_is_not_utf8_is_skipped_with_a_warning(digits, tmp_path, capsys):
    import shutil
    import config
    import data
    from conftest import tiny
    folder = tmp_path / 'pictures'
    shutil.copytree(digits, folder)
    shutil.copy(folder / '000.png', os.path.join(os.fsencode(folder), b'caf\xe9.png'))  # Latin-1, not UTF-8
    cfg = tiny(config.mnist, tmp_path, data_dir=str(folder))
    assert len(data.folder_files(cfg, 'train+validation+test')) == 40
    assert "(its name is not UTF-8: rename the file)" in capsys.readouterr().err
    images = list(data.held_out_dataset(cfg, 4))  # and every split reads
    assert images and images[0].shape[1:] == (28, 28, 1)


def test_a_crop_box_beyond_the_images_and_a_bad_value_in_config_json_are_named(run_copy, digits, tmp_path, capsys,
                                                                                mock_tfds):
    for source in ([f'--data_dir={digits}'], ['--dataset=mnist']):  # a folder's first image, or tfds' image shape
        _refused(vae_gan.main, TINY + source + ['--crop_box=0,0,40,40', f'--out_dir={tmp_path / "new"}'], capsys,
                 'crop_box 0,0,40,40 (top,left,height,width) reaches beyond', '28 wide and 28 high',
                 '--crop_box=0,0,28,28')
        assert not os.path.exists(tmp_path / 'new')
    saved = json.loads((run_copy / 'config.json').read_text())
    (run_copy / 'config.json').write_text(json.dumps(dict(saved, r1_gamma=1.0, update='simultaneous')))
    _refused(inference.main, [f'--out_dir={run_copy}'], capsys, f'{run_copy}/config.json holds a setting',
             'r1_gamma', 'read from that file, not the command line')


def test_paths_are_judged_as_the_system_resolves_them(run_copy, export, tmp_path, capsys, monkeypatch):
    """Through symbolic links and their '..', from '.', with '~': each case an outsider tried."""
    import metrics
    (run_copy / 'samples').mkdir()
    os.symlink(run_copy / 'samples', tmp_path / 'link')  # a link into a run's own samples/
    os.symlink(run_copy / 'best' if os.path.exists(run_copy / 'best') else export, tmp_path / 'to_export')
    before = contents(run_copy)
    ckpt = f'--checkpoint={run_copy}/checkpoints/ckpt-2'
    _refused(vae_gan.main, TINY + [f'--out_dir={tmp_path / "link"}'], capsys, 'writes itself')
    _refused(inference.main, [ckpt, f'--export={tmp_path / "link" / "mine"}'], capsys, 'writes itself')
    _refused(inference.main, [ckpt, f'--export={tmp_path}/link/../checkpoints/x'], capsys, 'checkpoints/')
    _refused(inference.main, [ckpt, f'--out_dir={tmp_path / "to_export"}/x'], capsys, 'inside the exported model')
    os.symlink(tmp_path / 'elsewhere', tmp_path / 'dangling')
    _refused(inference.main, [ckpt, f'--export={tmp_path / "dangling"}/'], capsys, 'is a symbolic link')
    monkeypatch.chdir(run_copy / 'samples')
    line = _refused(vae_gan.main, TINY + ['--out_dir=.'], capsys, 'writes itself')
    assert line.endswith(f'--out_dir={run_copy.parent / "samples-new"}')
    # '~' is the home folder, as a shell would have it, in the check and in the write alike
    monkeypatch.setenv('HOME', str(run_copy / 'samples'))
    _refused(vae_gan.main, TINY + ['--out_dir=~/t2'], capsys, 'writes itself')
    # an output never replaces an input: the data of a run's own folder, a checkpoint inside the samples/
    # a render replaces, a plot over a run's grid
    monkeypatch.chdir(tmp_path)
    (run_copy / 'samples' / 'generations').mkdir()
    _refused(vae_gan.main, TINY + [f'--data_dir={run_copy}/samples/generations', f'--out_dir={tmp_path / "new"}'],
             capsys, 'copy the images to a folder of their own')
    os.rename(export, run_copy / 'samples' / 'export')
    _refused(inference.main, [f'--checkpoint={run_copy}/samples/export', f'--out_dir={run_copy}'], capsys,
             'which this render replaces whole')
    grid = sorted(os.listdir(run_copy / 'op-gen'))[0]
    _refused(metrics.main, ['--plot', str(run_copy / 'op-gen' / grid), str(run_copy)], capsys, 'writes itself')
    assert {k: v for k, v in contents(run_copy).items() if not k.startswith('samples/')} == before
    assert not os.path.exists(tmp_path / 'new') and not os.path.exists(tmp_path / 'elsewhere')


def test_a_run_s_own_folders_are_its_own_a_new_run_writes_over_nothing_and_renders_keep_to_their_run(
        run_copy, trained_run, digits, tmp_path, capsys):
    import shutil
    before = contents(trained_run)
    # a run whose checkpoints/ (or grids, logs) link into another run would write and delete there
    linked = tmp_path / 'linked'
    shutil.copytree(run_copy, linked, ignore=shutil.ignore_patterns('checkpoints'))
    os.symlink(trained_run / 'checkpoints', linked / 'checkpoints')
    _refused(vae_gan.main, TINY + [f'--out_dir={linked}', '--epochs=3'], capsys, 'checkpoints is a symbolic link')
    # a config.json alone (a kept result: MNIST/results/*) is no run to go on
    kept = tmp_path / 'kept'
    kept.mkdir()
    shutil.copy(run_copy / 'config.json', kept / 'config.json')
    (kept / 'metrics.json').write_text('{}')
    _refused(vae_gan.main, TINY + [f'--out_dir={kept}'], capsys, "none of a run's folders", 'kept result')
    # its checkpoints gone, grids past the first checkpoint's epoch tell that it had trained
    for name in os.listdir(run_copy / 'checkpoints'):
        os.remove(run_copy / 'checkpoints' / name)
    _refused(vae_gan.main, TINY + [f'--out_dir={run_copy}'], capsys, 'grids remain', 'holds no checkpoint')
    # a new run's folder that already holds a run's folders with files in, or data inside them
    new = tmp_path / 'new'
    (new / 'op-gen').mkdir(parents=True)
    (new / 'op-gen' / 'epoch_0001.png').write_text('precious')
    _refused(vae_gan.main, TINY + [f'--out_dir={new}', f'--data_dir={digits}'], capsys, 'op-gen/ but no config.json')
    shutil.copytree(digits, tmp_path / 'fresh' / 'op-real')
    _refused(vae_gan.main, TINY + [f'--out_dir={tmp_path / "fresh"}', f'--data_dir={tmp_path / "fresh" / "op-real"}'],
             capsys, 'op-real/ but no config.json')  # the images would lie in a folder the run writes
    assert (new / 'op-gen' / 'epoch_0001.png').read_text() == 'precious' and not (tmp_path / 'fresh' / 'config.json').exists()
    # a render of one run's checkpoint never replaces another run's samples
    _refused(inference.main, [f'--checkpoint={trained_run}/checkpoints/ckpt-1', f'--out_dir={linked}'], capsys,
             'is another run', 'a folder of its own')
    assert contents(trained_run) == before


def test_an_export_into_a_folder_written_with_a_dot_and_a_link_written_so(trained_run, tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    os.symlink(tmp_path / 'empty', tmp_path / 'link')
    ckpt = f'--checkpoint={trained_run}/checkpoints/ckpt-2'
    _refused(inference.main, [ckpt, f'--export={tmp_path / "link"}/.'], capsys, 'is a symbolic link')
    inference.main([ckpt, f'--export={tmp_path / "empty"}/.'])
    assert (tmp_path / 'empty' / 'config.json').exists() and os.path.islink(tmp_path / 'link')
    assert sorted(os.listdir(tmp_path)) == ['empty', 'link']  # no lock or half-written folder left beside it


def test_metrics_counts_a_file_or_a_run_once_and_plots_only_to_a_png(trained_run, capsys):
    import metrics
    from conftest import ROOT
    kept = os.path.join(ROOT, 'MNIST', 'results', 'mnist-seed0', 'metrics.json')
    again = os.path.join(ROOT, 'MNIST', 'results', '..', 'results', 'mnist-seed0', 'metrics.json')
    assert metrics.command(['--table', kept, again, kept]) == ('table', [kept])
    assert '| 1 |' in metrics.table([kept]) and 'named twice' in capsys.readouterr().err
    assert metrics.command(['--plot', 'out.png', str(trained_run), f'{trained_run}/.'])[2] == [str(trained_run)]
    for out in (f'{trained_run}/lock', 'scores.png/', f'{trained_run}/config.json/'):
        with pytest.raises(configurator.UsageError, match='a name ending in .png'):
            metrics.command(['--plot', out, str(trained_run)])


def test_a_failed_export_names_the_export_s_folder(trained_run, tmp_path, monkeypatch, capsys):
    import errno
    import checkpoints

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, 'No space left on device', str(tmp_path / 'export' / 'ckpt-2.index'))
    monkeypatch.setattr(checkpoints, 'export', full)
    line = _refused(inference.main, [f'--checkpoint={trained_run}/checkpoints/ckpt-2', f'--export={tmp_path / "export"}'],
                    capsys, 'o space left on device')
    assert f'what {tmp_path / "export"} held before is as it was' in line and str(trained_run) + ' held' not in line


def test_a_folder_a_render_wrote_into_trains_and_a_linked_best_is_not_rendered(run_copy, trained_run, tmp_path, capsys):
    import metrics
    rendered = tmp_path / 'rendered'  # the pretrained model rendered here with --metrics, then a run started here
    for name in ('samples', 'metrics_cache'):
        (rendered / name).mkdir(parents=True)
        (rendered / name / 'x').write_text('a render wrote this')
    cfg, _ = configurator.for_training(configurator.parse_overrides(TINY + [f'--out_dir={rendered}']))
    assert cfg.out_dir == str(rendered)
    os.symlink(trained_run / 'best' if (trained_run / 'best').exists() else tmp_path, run_copy / 'best')
    for checkpoint in ([], ['--checkpoint=best']):  # another run's best/ through a link: not this run's model
        _refused(inference.main, [f'--out_dir={run_copy}', *checkpoint], capsys, 'best is a symbolic link')
    assert not (run_copy / 'samples').exists()
    assert metrics.command([f'--plot={tmp_path / "p.png"}', str(trained_run)])[1] == str(tmp_path / 'p.png')


def test_a_link_planted_at_every_place_the_repo_writes_is_never_written_through(run_copy, tmp_path, capsys):
    """The one writer's rule, at each place: a link where a folder of the run's own belongs is refused in
    one line before anything is written; a link where a file or samples/ goes is replaced (the link
    itself), and nothing where any link points changes."""
    elsewhere = tmp_path / 'elsewhere'
    for name in ('checkpoints', 'logs', 'op-gen', 'metrics_cache', 'best', 'samples'):
        (elsewhere / name).mkdir(parents=True)
        (elsewhere / name / 'keep.txt').write_text(name)
    (elsewhere / 'scores.jsonl').write_text('')  # (the run has scored nothing yet)
    for name in ('config.json', 'preset.json', 'checkpoints/checkpoint'):  # copies that read
        shutil.copyfile(run_copy / name, elsewhere / name.replace('/', '-'))
    before = contents(elsewhere)
    train = TINY + [f'--out_dir={run_copy}', '--epochs=3', '--eval_every=1', '--eval_samples=4']
    for name in ('checkpoints', 'logs', 'op-gen', 'metrics_cache', 'best'):  # a folder of the run's own
        held = tmp_path / f'{name}.real'
        if os.path.exists(run_copy / name):
            os.rename(run_copy / name, held)
        os.symlink(elsewhere / name, run_copy / name)
        _refused(vae_gan.main, train, capsys, f'{run_copy / name}', 'symbolic link')
        os.remove(run_copy / name)
        if os.path.exists(held):
            os.rename(held, run_copy / name)
    for name in ('scores.jsonl', 'config.json', 'preset.json', 'checkpoints/checkpoint'):  # a file: replaced
        if os.path.exists(run_copy / name):
            os.remove(run_copy / name)
        os.symlink(elsewhere / name.replace('/', '-'), run_copy / name)
    vae_gan.main(train)
    os.symlink(elsewhere / 'samples', run_copy / 'samples')
    inference.main([f'--out_dir={run_copy}', '--checkpoint=newest', '--num_samples=2'])
    for name in ('scores.jsonl', 'config.json', 'preset.json', 'checkpoints/checkpoint', 'samples'):
        assert not os.path.islink(run_copy / name), name
    assert os.path.isfile(run_copy / 'best' / 'scores.json') and os.path.isfile(run_copy / 'samples' / 'generations.png')
    assert contents(elsewhere) == before
