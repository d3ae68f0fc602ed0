"""The repo's shape: modules in layers with no import running back up, nothing importing the two
scripts, and functions short enough to read on a screen."""
import ast
import glob
import os

from conftest import ROOT

# config at the bottom; helpers on it; metrics on those; the two scripts on top.
LAYERS = {'config': 0, 'data': 1, 'models': 1, 'images': 1, 'checkpoints': 1, 'metrics': 2,
          'vae_gan': 3, 'vae_gan_inference': 3}
SCRIPTS = ('vae_gan', 'vae_gan_inference')


def _modules():
    return {os.path.basename(p)[:-3]: ast.parse(open(p).read()) for p in glob.glob(os.path.join(ROOT, '*.py'))}


def _imports(tree):
    """The repo modules a module imports, anywhere in it (also inside functions)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split('.')[0])
    return names & set(LAYERS)


def test_every_module_has_a_layer():
    assert set(_modules()) == set(LAYERS)


def test_imports_only_run_down_and_nothing_imports_a_script():
    for name, tree in _modules().items():
        for imported in _imports(tree):
            assert imported not in SCRIPTS, f'{name} imports the script {imported}'
            assert LAYERS[imported] < LAYERS[name], f'{name} (layer {LAYERS[name]}) imports {imported} ({LAYERS[imported]})'


def test_no_function_longer_than_80_lines():
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 80, f'{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines'
