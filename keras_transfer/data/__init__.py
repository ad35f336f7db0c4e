"""The data floor: datasets (embedded synthetic, folder trees, TFDS), class splits, tf.data
pipelines. `data.open_source(spec)` -> `Source` is the one way in; `splits` and `synthetic` are
its modules."""

from keras_transfer.data.sources import (AUTOTUNE, IMAGENET_MEAN, DataError, DatasetInfo,
                                         Source, decode_image, list_split, open_source,
                                         resize_size, serving_preprocess)

__all__ = ["AUTOTUNE", "IMAGENET_MEAN", "DataError", "DatasetInfo", "Source", "decode_image",
           "list_split", "open_source", "resize_size", "serving_preprocess"]
