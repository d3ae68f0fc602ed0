"""The mixture's components chosen on validation digits (never the test digits): for a checkpoint,
FID / precision / recall in both spaces of 5,000 generations against the 5,000 validation digits
(train[:5000], config.py's validation_split, which no run trains on), per number of components, and the
mixture's BIC on the codes and its mean log-likelihood of the training codes and of the validation digits' codes
(a fit that holds on codes it did not see), and the posterior's mean sigma on the validation digits; with
--fit_seeds, a fit per seed (the scatter from the fit alone).
python components.py --checkpoint=MNIST/pretrained-ema-mixture --components=10,20,30 --fit_seeds=0,1"""
import os, sys, json, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))  # the repo
import numpy as np, tensorflow_datasets as tfds
import vae_gan_inference as vi, prior, metrics, checkpoints

listed = lambda name: [int(c) for a in sys.argv[1:] if a.startswith(f'--{name}=') for c in a.split('=')[1].split(',')]
args = [a for a in sys.argv[1:] if not a.startswith(('--components=', '--fit_seeds='))]
counts, fit_seeds = listed('components'), listed('fit_seeds')
cfg, checkpoint, options = vi.load_config(args)
encoder, decoder = vi.restore_models(cfg, checkpoint, options.average)
_, decode = vi.coders(cfg, encoder, decoder)
x_val = tfds.as_numpy(tfds.load('mnist', split='train[:5000]', as_supervised=True, batch_size=-1))[0]
x_val = x_val.astype(np.float32) / 255
spaces = {k: metrics._extractor(cfg, k)[0] for k in ('classifier', 'mlp')}
real = {k: metrics._batched(f, x_val) for k, f in spaces.items()}
codes = prior.training_codes(cfg, encoder)
val_codes, val_sigma = (np.concatenate(a) for a in zip(*[[t.numpy() for t in encoder(x_val[i:i + 500], training=False)]
                                                          for i in range(0, len(x_val), 500)]))
from sklearn.mixture import GaussianMixture
for c, fit_seed in [(c, s) for c in counts for s in fit_seeds or [cfg.seed]]:
    start = time.perf_counter()
    gmm = GaussianMixture(c, covariance_type='full', random_state=fit_seed).fit(codes)
    seconds = time.perf_counter() - start
    mixture = {'weights': gmm.weights_, 'means': gmm.means_, 'covariances': gmm.covariances_, 'images': len(codes)}
    gen = decode(prior.sample(cfg, mixture, len(x_val), cfg.seed)).astype(np.float32) / 255
    out = {'checkpoint': checkpoint, 'epoch': checkpoints.epoch_of(checkpoint), 'components': c,
           'fit_seed': fit_seed, 'fit_seconds': seconds, 'bic': gmm.bic(codes), 'loglik_train': gmm.score(codes),
           'loglik_validation': gmm.score(val_codes.astype(np.float64)), 'sigma': float(val_sigma.mean()),
           'spread': float(codes.var(0).mean())}
    for k, f in spaces.items():
        fake = metrics._batched(f, gen)
        p, r = metrics.precision_recall(real[k], fake)
        out[k] = {'fid': metrics.fid(real[k], fake), 'precision': p, 'recall': r}
    print(json.dumps(out, default=float), flush=True)
