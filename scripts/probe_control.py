"""The paper's control, BnB+ - base, at one training budget (not a test).

    .venv/bin/python scripts/probe_control.py --steps=4800 --n=4 --replicates=3

For each replicate r and half (A, B): a from-scratch base, then a selffer that copies its layers
1..n and fine-tunes everything for the same budget (the paper's BnB+), both with the default
recipe's lr, batch and step policy scaled to --steps (lr / 10 at 1/3 and 2/3). Prints one JSON
line per net (best-10, final, tail gain) and the mean control with its 95 % t-interval; used
for the budget table in BUILD_NOTES.md ("Default sweep").
"""

import argparse
import json
import time

import keras
import numpy as np
from scipy import stats as st

from keras_transfer import data
from keras_transfer.data import splits
from keras_transfer.nets import alexnet, transfer
from keras_transfer.training import convergence
from keras_transfer.training.history import best_k_mean
from keras_transfer.training.recipe import TrainConfig, compile_model


def run(source, classes, config, arch, init_seed, data_seed, n=0, parent=None):
    keras.utils.set_random_seed(init_seed)
    net = transfer.build(arch, n, "fine_tune", source=parent)
    compile_model(net, config, len(classes))
    start = time.time()
    history = net.fit(source.train(classes, config.batch_size, arch.input_size, seed=data_seed),
                      validation_data=source.eval(classes, 256, arch.input_size),
                      epochs=config.epochs, steps_per_epoch=config.eval_every, verbose=0)
    curve = history.history["val_top1"]
    return net, {"best10": round(best_k_mean(curve), 4), "final": round(curve[-1], 4),
                 "tail_gain": round(convergence.diagnose(curve)["tail_gain"], 4),
                 "seconds": round(time.time() - start)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.04)
    parser.add_argument("--evaluations", type=int, default=48)
    args = parser.parse_args()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    source = data.open_source("synthetic")
    split = splits.resolve("natural_manmade", source.info.class_names,
                           families=source.info.families)
    config = TrainConfig(steps=args.steps, eval_every=args.steps // args.evaluations,
                               batch_size=args.batch, learning_rate=args.lr,
                               lr_step=args.steps // 3, warmup_steps=50)
    diffs = []
    for r in range(args.replicates):
        for half in "AB":
            classes = split.half(half)
            arch = alexnet.architecture("caffenet_mini", len(classes), dropout=0.0)
            base, b = run(source, classes, config, arch, 1000 + 10 * r, 2000 + 10 * r)
            _, s = run(source, classes, config, arch, 3000 + 10 * r, 4000 + 10 * r, args.n, base)
            diffs.append(s["best10"] - b["best10"])
            print(json.dumps({"steps": args.steps, "replicate": r, "half": half, "base": b,
                              f"{half}{args.n}{half}+": s, "control": round(diffs[-1], 4)}),
                  flush=True)
    # Directions averaged per replicate (the report's fixed factor), interval over replicates.
    per_rep = np.mean(np.reshape(diffs, (args.replicates, 2)), axis=1)
    half = st.t.ppf(0.975, len(per_rep) - 1) * per_rep.std(ddof=1) / len(per_rep) ** 0.5 \
        if len(per_rep) > 1 else float("nan")
    print(f"control BnB+ - base at {args.steps} steps: {per_rep.mean():+.4f} "
          f"[{per_rep.mean() - half:+.4f}, {per_rep.mean() + half:+.4f}]", flush=True)


if __name__ == "__main__":
    main()
