"""A trained net as a TF SavedModel that serves raw images.

Two signatures: `serving_default` takes uint8 images [N, H, W, 3] of any size, `serve_float`
takes float32 images in 0..255; both resize, centre-crop and subtract the training mean exactly
as evaluation does, and return class probabilities [N, num_classes].
"""

import json
import os

import tensorflow as tf

from keras_transfer import data

SAVED_MODEL = "saved_model"  # a run directory's SavedModel folder


def export_saved_model(model, path, mean, class_names=None):
    """Writes `model` with image-in, probabilities-out serving signatures to `path`.

    A plain `tf.Module` holding the backing `tf.Variable`s once: Keras' ExportArchive tracks
    both its own variables and the ones the endpoints capture, which stored every weight twice.
    """
    image_size = int(model.input_shape[1])
    mean = [float(m) for m in mean]

    def serve(images):
        return model(data.serving_preprocess(images, image_size, mean), training=False)

    module = tf.Module()
    module.weights = [v.value for v in model.weights]
    module.serving_default = tf.function(
        serve, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)], autograph=False)
    module.serve_float = tf.function(
        serve, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
        autograph=False)
    tf.saved_model.save(module, path, signatures={"serving_default": module.serving_default,
                                                  "serve_float": module.serve_float})
    if class_names is not None:  # label index -> class name, for whoever serves it
        with open(os.path.join(path, "class_names.json"), "w") as f:
            json.dump(list(class_names), f)
    return path
