"""Whether the autoencoder fits the digits it trains on better than digits it never saw, for checkpoints
along a run: the reconstruction MSE (the encoder's means decoded, pixels in [0, 1]) of the 5,000 validation
digits (train[:5000], config.py's validation_split, which no run trains on) and of 5,000 training digits
(train[5000:10000]).  python generalization.py CKPT ..."""
import os, sys, json
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))  # the repo
import numpy as np, tensorflow_datasets as tfds
import vae_gan_inference as vi, checkpoints

x = tfds.as_numpy(tfds.load('mnist', split='train[:10000]', as_supervised=True, batch_size=-1))[0]
x = x.astype(np.float32) / 255
for checkpoint in sys.argv[1:]:
    cfg, checkpoint, options = vi.load_config([f'--checkpoint={checkpoint}', '--out_dir=/tmp/generalization'])
    encode, decode = vi.coders(cfg, *vi.restore_models(cfg, checkpoint, options.average))
    error = ((decode(encode(x)).astype(np.float32) / 255 - x) ** 2).mean(axis=(1, 2, 3))
    print(json.dumps({'epoch': checkpoints.epoch_of(checkpoint), 'validation': float(error[:5000].mean()),
                      'train': float(error[5000:].mean())}), flush=True)
