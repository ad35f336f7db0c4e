"""The paper's control, BnB+ - base, for one candidate recipe of the embedded task (not a test).

    .venv/bin/python scripts/probe_control.py --steps=1200 --per_class=50 --replicates=4

For each replicate r and half (A, B): a from-scratch base, then a selffer that copies its layers
1..n and fine-tunes everything for the same budget (the paper's BnB+), and with --continued the
base itself fine-tuned for one more budget (every layer copied, B8B+ on CaffeNet: the
budget-matched control). Everything runs through the product's data pipeline (`per_class`:
the first k training images of each class), builder and recipe (lr / 10 at 1/3 and 2/3 of
--steps), one intra-op thread as the sweep trains. After every evaluation the net is also
evaluated on a fixed, un-augmented sample of its own training images (`Dataset.train_sample`),
the regime diagnostic (`training.regime`).

Prints one JSON line per (replicate, half) and the mean control with its 95 % t-interval over
replicates (the directions averaged per replicate, the report's fixed factor); used for the
candidate table in BUILD_NOTES.md ("The paper's regime").
"""

import argparse
import json
import time

import keras
import numpy as np
from scipy import stats as st

from keras_transfer import data, hardware, runtime
from keras_transfer.data import splits
from keras_transfer.experiment.config import set_precision
from keras_transfer.nets import alexnet, transfer
from keras_transfer.training import convergence, regime
from keras_transfer.training.history import best_k_mean
from keras_transfer.training.recipe import TrainConfig, compile_model


class SampleCurve(keras.callbacks.Callback):
    """Loss and top-1 on the training sample after every evaluation (as fit.NetLogs records)."""

    def __init__(self, sample):
        super().__init__()
        self.sample, self.loss, self.top1 = sample, [], []

    def on_epoch_end(self, epoch, logs=None):
        found = self.model.evaluate(self.sample, verbose=0, return_dict=True)
        self.loss.append(float(found["loss"]))
        self.top1.append(float(found["top1"]))


def run(source, classes, config, arch, args, init_seed, data_seed, n=0, parent=None):
    keras.utils.set_random_seed(init_seed)
    net = transfer.build(arch, n, "fine_tune", source=parent)
    compile_model(net, config, len(classes))
    sample = SampleCurve(source.train_sample(classes, 256, arch.input_size, args.per_class))
    start = time.time()
    history = net.fit(source.train(classes, config.batch_size, arch.input_size, seed=data_seed,
                                   per_class=args.per_class, augmentation=args.augmentation),
                      validation_data=source.eval(classes, 256, arch.input_size),
                      epochs=config.epochs, steps_per_epoch=config.eval_every, verbose=0,
                      callbacks=[sample])
    curve = history.history["val_top1"]
    rows = [{"step": (i + 1) * config.eval_every, "val_top1": v, "val_loss": vl,
             "sample_top1": t, "sample_loss": tl}
            for i, (v, vl, t, tl) in enumerate(zip(curve, history.history["val_loss"],
                                                   sample.top1, sample.loss))]
    found = regime.diagnose(rows)
    return net, {"best10": round(best_k_mean(curve), 4), "final": round(curve[-1], 4),
                 "tail_gain": round(convergence.diagnose(curve)["tail_gain"], 4),
                 "regime": found["regime"], "train_top1": round(found["sample_top1"], 4),
                 "val_loss_min_at": found["val_loss_min_step"],
                 "seconds": round(time.time() - start)}


def interval(per_rep):
    per_rep = np.asarray(per_rep)
    if len(per_rep) < 2:
        return per_rep.mean(), float("nan"), float("nan")
    half = st.t.ppf(0.975, len(per_rep) - 1) * per_rep.std(ddof=1) / len(per_rep) ** 0.5
    return per_rep.mean(), per_rep.mean() - half, per_rep.mean() + half


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--n", default="4", help="copied layers, e.g. 4 or 1,4")
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--first_replicate", type=int, default=0)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.04)
    parser.add_argument("--evaluations", type=int, default=24)
    parser.add_argument("--per_class", type=int, default=None,
                        help="training images per class (default: all, ~260)")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--augmentation", default="crop_mirror", choices=data.AUGMENTATIONS)
    parser.add_argument("--width", type=float, default=None,
                        help="conv widths as a fraction of CaffeNet's (caffenet_mini: 0.25)")
    parser.add_argument("--fc_units", type=int, default=None,
                        help="fc6/fc7 width (caffenet_mini: 512)")
    parser.add_argument("--precision", default="auto", choices=hardware.PRECISIONS)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads")
    parser.add_argument("--continued", action="store_true",
                        help="also the base continued for one more budget (B8B+)")
    args = parser.parse_args()
    runtime.configure(args.threads)
    precision = hardware.choose_precision(args.precision)
    set_precision(precision == "bfloat16")
    source = data.open_dataset("synthetic")
    split = splits.resolve("natural_manmade", source.info.class_names,
                           families=source.info.families)
    config = TrainConfig(steps=args.steps, eval_every=args.steps // args.evaluations,
                         batch_size=args.batch, learning_rate=args.lr,
                         lr_step=args.steps // 3, warmup_steps=min(50, args.steps // 4))
    ns = [int(n) for n in args.n.split(",")]
    shape = {k: v for k, v in (("width", args.width), ("fc_units", args.fc_units)) if v}
    controls, continued = [], []
    tag = {"steps": args.steps, "per_class": args.per_class, "dropout": args.dropout,
           "augmentation": args.augmentation, "n": args.n,
           "precision": precision, "threads": args.threads, **shape, "cpu": hardware.cpu_kind()}
    for r in range(args.first_replicate, args.first_replicate + args.replicates):
        for half in "AB":
            classes = split.half(half)
            arch = alexnet.architecture("caffenet_mini", len(classes), dropout=args.dropout,
                                        **shape)
            base, b = run(source, classes, config, arch, args, 1000 + 10 * r, 2000 + 10 * r)
            line = {**tag, "replicate": r, "half": half, "base": b}
            selffers = []
            for n in ns:
                _, s = run(source, classes, config, arch, args, 3000 + 10 * r, 4000 + 10 * r,
                           n, base)
                line[f"{half}{n}{half}+"] = s
                selffers.append(s["best10"] - b["best10"])
            line["control"] = round(float(np.mean(selffers)), 4)  # mean over the n given
            controls.append(np.mean(selffers))
            if args.continued:
                _, c = run(source, classes, config, arch, args, 3000 + 10 * r, 4000 + 10 * r,
                           8, base)
                line[f"{half}8{half}+"] = c
                line["continued"] = round(c["best10"] - b["best10"], 4)
                continued.append(c["best10"] - b["best10"])
            print(json.dumps(line), flush=True)
    for name, diffs in (("BnB+ - base", controls), ("B8B+ - base", continued)):
        if diffs:
            mean, low, high = interval(np.mean(np.reshape(diffs, (-1, 2)), axis=1))
            print(f"{name} {json.dumps(tag)}: {mean:+.4f} [{low:+.4f}, {high:+.4f}]", flush=True)


if __name__ == "__main__":
    main()
