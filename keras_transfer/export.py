"""Exports a trained net as a TF SavedModel that serves raw images.

The SavedModel has two signatures: `serving_default` takes uint8 images [N, H, W, 3] of any size,
`serve_float` takes float32 images in 0..255; both resize, centre-crop and subtract the training
mean exactly as evaluation does, and return class probabilities [N, num_classes].

    python -m keras_transfer.export --run_dir=runs/natural_manmade/runs/A3B+
"""

import json
import os
import sys

import keras
import tensorflow as tf
from absl import app, flags

from keras_transfer import alexnet, data  # alexnet: registers the custom layers for loading

SAVED_MODEL = "saved_model"


def export_saved_model(model, path, mean, class_names=None):
    """Writes `model` with image-in, probabilities-out serving signatures to `path`."""
    image_size = int(model.input_shape[1])
    mean = [float(m) for m in mean]

    def serve(images):
        return model(data.serving_preprocess(images, image_size, mean), training=False)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", lambda images: serve(images),
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    archive.add_endpoint("serve_float", lambda images: serve(images),
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    archive.write_out(path, verbose=False)
    if class_names is not None:  # label index -> class name, for whoever serves it
        with open(os.path.join(path, "class_names.json"), "w") as f:
            json.dump(list(class_names), f)
    return path


def export_run(run_dir, out=None):
    """Exports the finished net in `run_dir` (its model.keras and manifest) as a SavedModel."""
    model_path = os.path.join(run_dir, "model.keras")
    manifest_path = os.path.join(run_dir, "manifest.json")
    for path in (model_path, manifest_path):
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} not found: --run_dir must be a finished net's run directory "
                "(WORKDIR/runs/<net>) written by keras_transfer.sweep")
    with open(manifest_path) as f:
        manifest = json.load(f)
    model = keras.saving.load_model(model_path, compile=False)
    return export_saved_model(model, out or os.path.join(run_dir, SAVED_MODEL),
                              manifest["data"]["mean"], manifest.get("class_names"))


FLAGS = flags.FLAGS


def define_flags():
    # Defined only when run as a command, so importing this module adds no flags to others.
    flags.DEFINE_string("run_dir", None, "A finished net's run directory (WORKDIR/runs/<net>).")
    flags.DEFINE_string("out", None, "Where to write the SavedModel (default RUN_DIR/saved_model).")


def main(argv):
    del argv
    if not FLAGS.run_dir:
        sys.exit("error: --run_dir is required (a finished net's directory WORKDIR/runs/<net>)")
    try:
        path = export_run(FLAGS.run_dir, FLAGS.out)
    except FileNotFoundError as e:
        sys.exit(f"error: {e}")
    print(f"exported {path}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
