"""Train-step time of caffenet_mini against narrower variants (not a test; BENCHMARKS.md).

    .venv/bin/python scripts/bench_width.py            # bfloat16 (mixed)
    .venv/bin/python scripts/bench_width.py float32

One intra-op and one inter-op thread (as a sweep worker trains), batch 128 of 32 px images, 20
classes, dropout 0; each net is warmed up, then 3 rounds of 40 steps alternate between the
variants, so the cores' fast and slow states fall on all of them.
"""

import sys
import time

from keras_transfer import hardware, runtime

runtime.configure(1, 1, False)
runtime.import_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_transfer.nets import alexnet  # noqa: E402

VARIANTS = {"widths / 4, fc 512 (caffenet_mini)": dict(width=0.25, fc_units=512),
            "widths / 4, fc 256": dict(width=0.25, fc_units=256),
            "widths x 3/16, fc 384": dict(width=0.1875, fc_units=384),
            "widths / 8, fc 256": dict(width=0.125, fc_units=256)}


def main():
    keras.mixed_precision.set_global_policy(sys.argv[1] if len(sys.argv) > 1 else "mixed_bfloat16")
    print(hardware.cpu_kind(), keras.mixed_precision.global_policy().name)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (128, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 20, 128)
    nets = {}
    for name, shape in VARIANTS.items():
        net = alexnet.build(alexnet.architecture("caffenet_mini", 20, dropout=0.0, **shape))
        net.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
        for _ in range(5):
            net.train_on_batch(x, y)
        nets[name] = net
        print(f"{name}: {net.count_params():,} parameters")
    for round_ in range(3):
        for name, net in nets.items():
            start = time.perf_counter()
            for _ in range(40):
                net.train_on_batch(x, y)
            print(f"round {round_}  {name}: {(time.perf_counter() - start) / 40 * 1000:.1f} "
                  "ms/step", flush=True)


if __name__ == "__main__":
    main()
