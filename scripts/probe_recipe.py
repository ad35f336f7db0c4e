"""Validation top-1 curves of one from-scratch base net under recipe variants (not a test).

    .venv/bin/python scripts/probe_recipe.py --half=B --steps=400 \
        --variants='[{"lr": 0.02}, {"lr": 0.02, "arch": {"dropout": 0.0}}]'

Each variant is a JSON object: lr (SGD learning rate, no step), seed (init seed, default 1),
batch (default 64) and arch (overrides of alexnet.architecture, e.g. {"dropout": 0.0}). Prints
one line per variant with val top-1 after every 50 steps, on the embedded default's
natural/man-made half. Used for the recipe notes in BUILD_NOTES.md ("Default sweep").
"""

import argparse
import json
import time

import keras
from keras import ops

from keras_transfer import alexnet, data, splits, train, transfer

EVAL_EVERY = 25


class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, lr, steps, lr_step):
        self.lr, self.steps, self.lr_step = lr, steps, lr_step

    def __call__(self, step):
        step = ops.cast(step, "float32")
        drop = ops.power(0.1, ops.floor(step / self.lr_step))
        return self.lr * drop * ops.minimum(1.0, (step + 1) / self.steps)


def probe(source, classes, variant, steps, model):
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if variant.get("bf16") else "float32")
    arch = alexnet.architecture(model, len(classes), **variant.get("arch", {}))
    keras.utils.set_random_seed(variant.get("seed", 1))
    net = transfer.build(arch, 0, "fine_tune")
    config = train.TrainConfig(steps=steps, eval_every=EVAL_EVERY,
                               batch_size=variant.get("batch", 64),
                               learning_rate=variant["lr"],
                               lr_step=variant.get("lr_step", 10 ** 9))
    train.compile_model(net, config, len(classes))
    for name in ("conv2", "conv4", "conv5", "fc6", "fc7"):  # Caffe's bias-1 layers
        if "bias" in variant:
            net.get_layer(name).bias.assign(ops.full_like(net.get_layer(name).bias, variant["bias"]))
    if variant.get("warmup"):
        net.optimizer.learning_rate = Warmup(variant["lr"], variant["warmup"],
                                             variant.get("lr_step", 10 ** 9))
    start = time.time()
    history = net.fit(source.train(classes, config.batch_size, arch.input_size, seed=1),
                      validation_data=source.eval(classes, 256, arch.input_size),
                      epochs=config.epochs, steps_per_epoch=EVAL_EVERY, verbose=0)
    return [round(v, 3) for v in history.history["val_top1"]], time.time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", default="B", choices=["A", "B", "all"])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--model", default="caffenet_small")
    parser.add_argument("--variants", default='[{"lr": 0.02}]')
    args = parser.parse_args()
    source = data.open_source("synthetic")
    split = splits.resolve("natural_manmade", source.info.class_names,
                           families=source.info.families)
    classes = split.half(args.half)
    for variant in json.loads(args.variants):
        curve, seconds = probe(source, classes, variant, args.steps, args.model)
        print(json.dumps(variant), "val_top1", curve, f"{seconds:.0f}s", flush=True)


if __name__ == "__main__":
    main()
