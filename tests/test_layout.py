"""The repo's shape: the experiment alone in config.py, modules in layers with no import running back
up, no entry point imported, and the training script free of the run folder's machinery. (No test of
a file's or a function's length: a researcher's two-line experiment must not fail the suite.)"""
import ast
import glob
import os
import re

from conftest import ROOT

# config.py at the bottom; the run's care (run_folder.py, pure Python); what reads the experiment; the pieces;
# what the step stands on and the checkpoints; the scripts on top. vae_gan.py (the method and its loop)
# is imported only by bench.py, which times its step.
LAYERS = {'config': 0, 'run_folder': 1, 'configurator': 2, 'data': 3, 'models': 3, 'images': 3,
          'checkpoints': 4, 'prior': 4, 'original': 5, 'metrics': 5, 'attributes': 5, 'best_model': 6, 'vae_gan': 7,
          'vae_gan_inference': 7, 'bench': 8}
ENTRY_POINTS = ('vae_gan_inference', 'bench')  # imported by nothing


def _sources():
    return {os.path.basename(p)[:-3]: open(p).read() for p in glob.glob(os.path.join(ROOT, '*.py'))}


def _imports(tree):
    """Every module a module imports, anywhere in it (also inside functions)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split('.')[0])
    return names


def test_every_module_has_a_layer():
    assert set(_sources()) == set(LAYERS)


def test_imports_only_run_down_and_no_entry_point_is_imported():
    for name, source in _sources().items():
        for imported in _imports(ast.parse(source)) & set(LAYERS):
            assert imported not in ENTRY_POINTS, f'{name} imports the script {imported}'
            assert imported != 'vae_gan' or name == 'bench', f'{name} imports the training script'
            assert LAYERS[imported] < LAYERS[name], \
                f'{name} (layer {LAYERS[name]}) imports {imported} ({LAYERS[imported]})'


def test_config_holds_the_experiment_and_no_parser():
    source = _sources()['config']
    tree = ast.parse(source)
    assert _imports(tree) <= {'dataclasses', 'math', 'typing'}
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda))], 'config.py defines code'


def test_the_training_script_is_the_method_and_its_loop():
    source = _sources()['vae_gan']
    # the lock, signals, file-system recovery and the benchmark live beside it
    assert not _imports(ast.parse(source)) & {'signal', 'fcntl', 'shutil', 'socket', 'contextlib'}
    assert 'benchmark' not in source and 'Lock' not in source


def test_the_run_s_care_loads_before_tensorflow():
    """The scripts check their flags and paths before TensorFlow loads: what they import for that imports
    nothing heavy at module level (run_folder.start loads TensorFlow inside a function)."""
    for name in ('config', 'configurator', 'run_folder'):
        top = ast.Module([n for n in ast.parse(_sources()[name]).body if isinstance(n, (ast.Import, ast.ImportFrom))], [])
        assert not _imports(top) & {'tensorflow', 'keras', 'numpy', 'checkpoints', 'data', 'models'}, name


def test_the_readme_s_method_points_at_the_lines_that_compute_it():
    readme = open(os.path.join(ROOT, 'README.md')).read()
    lines = _sources()['vae_gan'].split('\n')
    for loss, assigned in (('L_D', 'loss_d = '), ('L_enc', 'loss_enc = '), ('L_dec', 'loss_dec = ')):
        line = int(re.search(rf'{loss} .* vae_gan\.py:(\d+)', readme).group(1))
        assert assigned in lines[line - 1], (loss, line)
    first, last = (int(n) for n in re.search(r'`vae_gan\.py:(\d+)-(\d+)`: three', readme).groups())
    step = '\n'.join(lines[first - 1:last])
    assert lines[first - 1].startswith('def original_step') and step.count('with tf.GradientTape(') == 3
    one_pass = int(re.search(r"update='simultaneous'`, `vae_gan\.py:(\d+)`", readme).group(1))
    assert lines[one_pass - 1].startswith('def one_pass_step')
