#!/usr/bin/env bash
# Results over seeds for RESULTS.md's table: each MNIST recipe trained for 30 epochs with each seed,
# scored on 10,000 images in both feature spaces; each run's config.json and metrics.json are kept in
# MNIST/results/<recipe>-seed<N>/ (small, committed), then one row per recipe (mean ± std over seeds)
# from every run kept there. The bfloat16 row has seed 0 only: `bash MNIST/results.sh 0`
# with RECIPES=mnist-bfloat16 adds it.
# From the repository root:   bash MNIST/results.sh 0 1 2      (about 16 min a run on a 2-core CPU)
set -euo pipefail
seeds=${*:-0 1 2}
declare -A flags=([mnist]='--preset=mnist' [mnist_sigmoid]='--preset=mnist_sigmoid'
                  [mnist-bfloat16]='--preset=mnist --mixed_precision=bfloat16')
for seed in $seeds; do
  for recipe in ${RECIPES:-mnist mnist_sigmoid}; do
    out=runs/$recipe-seed$seed
    python vae_gan.py ${flags[$recipe]} --epochs=30 --seed=$seed --out_dir=$out
    python vae_gan_inference.py --out_dir=$out --checkpoint=newest --metrics --metric_features=classifier,mlp  # epoch 30
    mkdir -p MNIST/results/$recipe-seed$seed
    cp $out/config.json $out/samples/metrics.json MNIST/results/$recipe-seed$seed/
  done
done
python metrics.py --table MNIST/results/*/metrics.json
