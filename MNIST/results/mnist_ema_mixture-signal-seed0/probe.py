"""What the FID measures, for a checkpoint (args as vae_gan_inference.py's): 10,000 mixture generations
against the 10,000 test digits as --metrics scores them (FID, precision, recall in both spaces); the same
generations resampled to the test's class shares (each image's class as the space's own classifier reads
it); their class shares' total variation from the test's; and the reconstructions (the encoder's means
decoded) of MNIST's first 10,000 training-set digits (5,000 validation and 5,000 training digits) scored
the same way: the decoder's quality with the prior out of the picture."""
import os, sys, json
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))  # the repo
import numpy as np, tensorflow as tf, tensorflow_datasets as tfds
import vae_gan_inference as vi, prior, metrics, checkpoints, run_folder

def analyse(args):
    cfg, checkpoint, options = vi.load_config(args)
    encoder, decoder = vi.restore_models(cfg, checkpoint, options.average)
    mixture = prior.for_checkpoint(cfg, checkpoint, encoder, unaveraged=not options.average,
                                   beside=run_folder.run_of(checkpoint))
    encode, decode = vi.coders(cfg, encoder, decoder)
    x_test, y_test = tfds.as_numpy(tfds.load('mnist', split='test', as_supervised=True, batch_size=-1))
    x_train = tfds.as_numpy(tfds.load('mnist', split='train[:10000]', as_supervised=True, batch_size=-1))[0]
    unit = lambda x: x.astype(np.float32) / 255
    gen = unit(decode(prior.sample(cfg, mixture, 20000, cfg.seed)))
    recon = unit(decode(encode(unit(x_train))))
    x_test = unit(x_test)
    out = {'checkpoint': checkpoint, 'epoch': checkpoints.epoch_of(checkpoint), 'prior': prior.describe(mixture),
           'components': cfg.prior_components}
    counts = np.bincount(y_test, minlength=10)
    for kind in ('classifier', 'mlp'):
        model, _ = metrics.classifier(cfg, kind)
        extract, _ = metrics._extractor(cfg, kind)
        pred = metrics._batched(tf.function(lambda x: model(x, training=False)), gen).argmax(1)
        f_gen, f_test, f_rec = (metrics._batched(extract, x) for x in (gen, x_test, recon))
        share = np.bincount(pred, minlength=10) / len(pred)
        rng = np.random.default_rng(0)
        pick = np.concatenate([rng.choice(np.flatnonzero(pred == c), counts[c], replace=counts[c] > (pred == c).sum())
                               for c in range(10)])
        pr = metrics.precision_recall(f_test, f_gen[:10000])
        out[kind] = {'fid': metrics.fid(f_test, f_gen[:10000]), 'precision': pr[0], 'recall': pr[1],
                     'fid_balanced': metrics.fid(f_test, f_gen[pick]),
                     'tv': 0.5 * np.abs(share - counts / counts.sum()).sum(), 'fid_recon': metrics.fid(f_test, f_rec),
                     'recall_recon': metrics.precision_recall(f_test, f_rec)[1]}
    return out

if __name__ == '__main__':  # e.g. python probe.py --checkpoint=RUN/checkpoints/ckpt-40 --prior_components=30
    print(json.dumps(analyse(sys.argv[1:]), default=float), flush=True)
