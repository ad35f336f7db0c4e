"""Validation top-1 curves of one from-scratch base net under recipe variants (not a test).

    .venv/bin/python scripts/probe_recipe.py --model=caffenet_mini --half=B --steps=300 \
        --variants='[{"lr": 0.02, "seed": 1889872385}, {"lr": 0.02, "warmup": 50, "bf16": 1}]'

Each variant is a JSON object: lr (SGD learning rate), seed (init seed, default 1; baseB's in
the default sweep is 1889872385, baseA's 1772911547), batch (default 64), warmup (warm-up
steps, default 0), policy ("step" or "poly", default "step"), lr_step (default: never), bf16
(mixed_bfloat16) and arch (overrides of backbones.architecture, e.g. {"dropout": 0.0}). Prints one
line per variant with val top-1 after every 25 steps, on the embedded default's natural/man-made
half. Used for the recipe notes in BUILD_NOTES.md ("Default sweep").
"""

import argparse
import json
import time

import keras

from keras_transfer import data
from keras_transfer.data import splits
from keras_transfer.nets import backbones, transfer
from keras_transfer.training.recipe import TrainConfig, compile_model

EVAL_EVERY = 25


def probe(source, classes, variant, steps, model):
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if variant.get("bf16") else "float32")
    arch = backbones.architecture(model, len(classes), **variant.get("arch", {}))
    keras.utils.set_random_seed(variant.get("seed", 1))
    net = transfer.build(arch, 0, "fine_tune")
    config = TrainConfig(steps=steps, eval_every=EVAL_EVERY,
                               batch_size=variant.get("batch", 64),
                               learning_rate=variant["lr"],
                               lr_step=variant.get("lr_step", 10 ** 9),
                               warmup_steps=variant.get("warmup", 0),
                               lr_policy=variant.get("policy", "step"))
    compile_model(net, config, len(classes))
    start = time.time()
    history = net.fit(source.train(classes, config.batch_size, arch.input_size, seed=1),
                      validation_data=source.eval(classes, 256, arch.input_size),
                      epochs=config.epochs, steps_per_epoch=EVAL_EVERY, verbose=0)
    return [round(v, 3) for v in history.history["val_top1"]], time.time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", default="B", choices=["A", "B", "all"])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--model", default="caffenet_mini")
    parser.add_argument("--variants", default='[{"lr": 0.02}]')
    args = parser.parse_args()
    source = data.open_dataset("synthetic")
    split = splits.resolve("natural_manmade", source.info.class_names,
                           families=source.info.families)
    classes = split.half(args.half)
    for variant in json.loads(args.variants):
        curve, seconds = probe(source, classes, variant, args.steps, args.model)
        print(json.dumps(variant), "val_top1", curve, f"{seconds:.0f}s", flush=True)


if __name__ == "__main__":
    main()
