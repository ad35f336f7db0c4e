"""Training throughput (images/s) of the product's own CaffeNet, compile and fit path.

    python -m keras_transfer.bench --model=caffenet --batch=64                    # 227 px, full
    python -m keras_transfer.bench --model=caffenet --batch=64 --frozen_layers=5  # conv1-5 frozen
    python -m keras_transfer.bench --model=caffenet_small --batch=128 --json
    python -m keras_transfer.bench --frozen_layers=0,5 --pipeline=synthetic --seconds=10

The net is `transfer.build(arch, n, "random_frozen")` compiled by `compile_model` and
trained by `model.fit`, exactly as a sweep trains it. Timing follows the PyTorch peer
(../shared/bench/pytorch_caffenet.py): 3 warm-up steps, 3 steps to size a window of --seconds,
then 3 windows; the median window is reported. `--pipeline=none` feeds one in-memory batch (as
the peer does); `synthetic` and `folder:PATH` feed the real tf.data pipeline, so the figure
includes input cost. Only ratios taken side by side on the same machine mean anything.
"""

import json
import os
import platform
import sys
import time

from absl import app, flags

from keras_transfer import catalog, cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "caffenet", list(catalog.MODEL_NAMES), "Which model.")
flags.DEFINE_integer("batch", 64, "Batch size.")
flags.DEFINE_list("frozen_layers", ["0"], "n values 0..7 (CaffeNet): layers 1..n frozen, one "
                  "case each.")
flags.DEFINE_integer("num_classes", 500, "fc8 width with --pipeline=none (the peer uses 500).")
flags.DEFINE_bool("mixed_precision", False, "mixed_bfloat16 (CPU) / mixed_float16 (GPU).")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step.")
flags.DEFINE_string("pipeline", "none", "none (one in-memory batch), synthetic, or folder:PATH.")
flags.DEFINE_float("seconds", 20.0, "Length of each of the 3 timed windows.")
flags.DEFINE_integer("intra_op_threads", 0, "TF intra-op threads (0: TF's default).")
flags.DEFINE_integer("inter_op_threads", 0, "TF inter-op threads (0: TF's default).")
flags.DEFINE_float("weight_decay", None, "Override the product's L2 decay (5e-4); 0 matches the "
                   "peer, which trains without decay.")
flags.DEFINE_bool("fused", False, "One case: the --frozen_layers nets as fused heads of one "
                  "shared frozen trunk (keras_transfer.nets.fused); img/s counts each image once.")
flags.DEFINE_bool("fine_tune", False, "With --fused: the --frozen_layers values are the n of "
                  "fine-tuned nets (AnB+: layers 1..n copied, all layers train) side by side in "
                  "one graph, as the sweep fuses them; img/s counts each image once.")
flags.DEFINE_bool("json", False, "Print one JSON line per case (else a readable line).")


def _timed_fit(model, data, steps):
    """Seconds for `steps` train steps through model.fit (one epoch, no callbacks)."""
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    return time.perf_counter() - start


def measure(model_name="caffenet", batch=64, frozen_layers=0, num_classes=500,
            pipeline="none", seconds=20.0, jit_compile=False, windows=3, weight_decay=None,
            fused_heads=(), fine_tune=False):
    """One case: returns a dict with train_images_per_s (median window) and the case.

    fused_heads: n values; then the case is those random-filter nets as fused heads, or with
    fine_tune those fine-tuned nets (copied from a random source) side by side."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_transfer import data
    from keras_transfer.nets import backbones, transfer
    from keras_transfer.training.recipe import TrainConfig, compile_model

    input_size = backbones.architecture(model_name, num_classes).input_size
    if pipeline == "none":
        rng = np.random.default_rng(0)
        x = rng.uniform(-100, 100, (batch, input_size, input_size, 3))
        y = rng.integers(0, num_classes, batch)
        dataset = tf.data.Dataset.from_tensors(
            (tf.constant(x, tf.float32), tf.constant(y, tf.int32))).repeat()
    else:
        source = data.open_dataset(pipeline)
        num_classes = len(source.info.class_names)
        dataset = source.train(list(range(num_classes)), batch, input_size, seed=0)
    overrides = {} if weight_decay is None else {"weight_decay": weight_decay}
    arch = backbones.architecture(model_name, num_classes, **overrides)
    recipe = TrainConfig(steps=1000, eval_every=1000, batch_size=batch, jit_compile=jit_compile)
    if fused_heads:
        from keras_transfer.experiment import plan
        from keras_transfer.nets import fused
        if fine_tune:
            nets = [plan.copied("A", n, "B", True) for n in sorted(fused_heads)]
            source = backbones.build(arch)
        else:
            nets, source = [plan.random_filters(n) for n in sorted(fused_heads)], None
        heads = fused.build_heads(nets, source, arch, range(len(nets)))
        model = fused.model(nets, heads)
        compile_model(model, recipe, num_classes)
        dataset = dataset.map(lambda x, y: (x, (y,) * len(nets)))
    else:
        keras.utils.set_random_seed(0)
        model = transfer.build(arch, frozen_layers, "random_frozen")
        compile_model(model, recipe, num_classes)
    # Each fit call starts a new iterator; a real pipeline's start-up is part of each window
    # (small against --seconds: the synthetic selection is cached in memory after one pass).
    data_in = dataset
    _timed_fit(model, data_in, 3)                      # trace + warm-up
    per_step = _timed_fit(model, data_in, 3) / 3
    steps = max(3, int(seconds / per_step))
    rates = sorted(steps * batch / _timed_fit(model, data_in, steps) for _ in range(windows))
    return {
        "train_images_per_s": round(rates[len(rates) // 2], 2),
        "all": [round(r, 2) for r in rates], "model": model_name, "batch": batch,
        "frozen_layers": frozen_layers, "fused_heads": list(fused_heads),
        "fine_tune": fine_tune, "num_classes": num_classes, "pipeline": pipeline,
        "mixed_precision": keras.mixed_precision.global_policy().name,
        "jit_compile": jit_compile, "weight_decay": arch.weight_decay, "steps_per_window": steps,
        "params": model.count_params(),
        "trainable_params": int(sum(np.prod(v.shape) for v in model.trainable_weights)),
    }


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    import keras
    import tensorflow as tf

    from keras_transfer import runtime
    from keras_transfer.experiment.config import set_precision
    runtime.configure(FLAGS.intra_op_threads, FLAGS.inter_op_threads)  # before any op runs
    set_precision(FLAGS.mixed_precision)  # the sweep's choice: bfloat16 on CPU
    try:
        cases = [int(n) for n in FLAGS.frozen_layers]
    except ValueError:
        sys.exit(f"error: --frozen_layers={FLAGS.frozen_layers} must be integers in "
                 f"0..{catalog.max_n(FLAGS.model)}")
    if any(not 0 <= n <= catalog.max_n(FLAGS.model) for n in cases):
        sys.exit(f"error: --frozen_layers={FLAGS.frozen_layers} must be in "
                 f"0..{catalog.max_n(FLAGS.model)} for {FLAGS.model}")
    for n in ([max(cases)] if FLAGS.fused else cases):
        result = measure(FLAGS.model, FLAGS.batch, n, FLAGS.num_classes, FLAGS.pipeline,
                         FLAGS.seconds, FLAGS.jit_compile, weight_decay=FLAGS.weight_decay,
                         fused_heads=tuple(cases) if FLAGS.fused else (),
                         fine_tune=FLAGS.fine_tune)
        result.update(intra_op_threads=FLAGS.intra_op_threads,
                      inter_op_threads=FLAGS.inter_op_threads,
                      tensorflow=tf.__version__, keras=keras.__version__,
                      cpus=os.cpu_count(), machine=platform.processor() or platform.machine())
        if FLAGS.json:
            print(json.dumps(result), flush=True)
        else:
            print(f"RESULT keras model={FLAGS.model} batch={FLAGS.batch} frozen={n} "
                  f"fused_heads={result['fused_heads'] or '-'} "
                  f"pipeline={FLAGS.pipeline} policy={result['mixed_precision']} "
                  f"jit={FLAGS.jit_compile} decay={result['weight_decay']} train_img_s={result['train_images_per_s']:.1f} "
                  f"all={result['all']}", flush=True)


def run():
    app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
    run()
