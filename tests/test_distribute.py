"""tf.distribute on CPU: two logical CPUs under MirroredStrategy match one device, and a two-process
MultiWorkerMirroredStrategy run on 127.0.0.1 trains and writes one checkpoint. Each runs in a
subprocess: logical devices and a cluster must be set up before TensorFlow starts."""
import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import ROOT

MIRRORED = r'''
import dataclasses, json, sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + '/tests']
import run_folder
run_folder.start()  # as the scripts load TensorFlow
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import config, vae_gan
from conftest import build_step

def losses(strategy_name):
    cfg = dataclasses.replace(config.mnist, strategy=strategy_name, batch_size=8)
    strategy, _ = vae_gan.make_strategy(cfg)
    with strategy.scope():
        _, _, step = build_step(cfg)
    batch = tf.random.stateless_uniform([8, 28, 28, 1], seed=[1, 2])
    batches = iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat()))
    return strategy.num_replicas_in_sync, [{k: float(v) for k, v in step(next(batches), tf.constant(1.0)).items()}
                                           for _ in range(3)]

print(json.dumps([losses('default'), losses('mirrored')]))
'''


def test_mirrored_over_two_cpus_matches_one_device():
    result = subprocess.run([sys.executable, '-c', MIRRORED, ROOT], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    (one, single), (two, mirrored) = json.loads(result.stdout.strip().splitlines()[-1])
    assert (one, two) == (1, 2)
    for a, b in zip(single, mirrored):  # three steps: the weights after each update agree too
        for name in a:
            assert b[name] == pytest.approx(a[name], rel=1e-4, abs=1e-6), name


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_and_the_chief_writes_one_checkpoint(tmp_path, digits):
    workers = [f'127.0.0.1:{port}' for port in _free_ports(2)]
    out = tmp_path / 'run'
    args = [sys.executable, os.path.join(ROOT, 'vae_gan.py'), '--strategy=multi_worker', '--epochs=1',
            '--steps_per_epoch=2', '--batch_size=4', '--log_every=1', '--histogram_every=0', '--shuffle_buffer=16',
            f'--data_dir={digits}', f'--out_dir={out}']
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({'cluster': {'worker': workers},
                                                      'task': {'type': 'worker', 'index': index}}))
        processes.append(subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=240) for p in processes]
    for p, (stdout, stderr) in zip(processes, outputs):
        assert p.returncode == 0, stderr[-3000:]
        assert 'epoch 1/1' in stdout
    assert sorted(os.listdir(out / 'checkpoints')) == ['checkpoint', 'ckpt-1.data-00000-of-00001', 'ckpt-1.index']
    assert sorted(os.listdir(out)) == ['checkpoints', 'config.json', 'logs', 'op-gen', 'op-real', 'op-recons', 'preset.json']
