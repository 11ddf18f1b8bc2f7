"""What moves the iVAE's MCC on the Fig. 2a data: one iVAE (the official weights) and one
plain-ELBO iVAE trained together on one dataset, with a variant of the data, model or schedule.

    python benchmarks/ivae_variants.py '{}'                                # the quick Fig. 2a
    python benchmarks/ivae_variants.py '{"L": 1000}'                       # the paper's size
    python benchmarks/ivae_variants.py '{"data": {"repeat_matrix": true}}'
    python benchmarks/ivae_variants.py '{"model": {"decoder_variance": 0.01}}'
    python benchmarks/ivae_variants.py '{"epochs": 80, "lr": 0.001, "lr_patience": 1000}'
    python benchmarks/ivae_variants.py '{"data": {"mixing_layers": 1, "activation": "none"}}'
    python benchmarks/ivae_variants.py '{"identity": true}'               # x = s

Keys: L (points per segment, 250), epochs (20), lr (0.01), lr_patience (0), data (segment
data keys, see identvae.data.segments), model (IVAEConfig keys), identity (observe the
sources themselves). M = 40 segments, n = d = 5, data seed 1, model seeds 0. Prints each run's
MCC (one posterior sample, full set) after the first and the last epoch, its posterior-mean
MCC and its last learning rate. Deterministic on the CPU."""

from __future__ import annotations

import json
import sys
import time

import torch

from identvae.data.segments import generate_segments
from identvae.methods.ivae import WEIGHT_KEYS, IVAEMethod
from identvae.models.ivae import IVAEConfig
from identvae.train.ensemble import RunSpec, TrainConfig, train_ensemble

MODELS = {"ivae": (100, 1, 0, 10), "ivae_elbo": (1, 1, 1, 1)}


def main(variant: dict) -> None:
    torch.set_num_threads(1)
    segments, n = 40, 5
    size = variant.get("L", 250)
    config = {"n_segments": segments, "segment_size": size, "n_sources": n, "obs_dim": n}
    data = generate_segments(config | variant.get("data", {}), 1)
    if variant.get("identity"):
        data.observations = data.sources.copy()
    model = IVAEConfig(obs_dim=n, latent_dim=n, n_segments=segments, **variant.get("model", {}))
    method = IVAEMethod(model, segments * size, lr_patience=variant.get("lr_patience", 0))
    lr = variant.get("lr", 1e-2)
    runs = [
        RunSpec(name, "d", 0, dict(zip(WEIGHT_KEYS, map(float, w), strict=True)), lr=lr)
        for name, w in MODELS.items()
    ]
    epochs = variant.get("epochs", 20)
    start = time.perf_counter()
    results = train_ensemble(
        method, TrainConfig(lr, 64, epochs, 1, 1000), runs, {"d": data}, progress=False
    )
    print(f"variant {json.dumps(variant)}: {time.perf_counter() - start:.0f} s")
    for res in results:
        first, last = res.history[0], res.history[-1]
        print(
            f"  {res.spec.run_id:10s} {res.status}: MCC epoch 1 {first['mcc']:.3f} -> epoch "
            f"{last['epoch']} {last['mcc']:.3f} (posterior mean {last['mcc_mean']:.3f}), "
            f"last lr {last['epoch_lr']:.0e}"
        )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
