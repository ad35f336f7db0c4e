"""The data floor: datasets (embedded synthetic, folder trees, TFDS), class splits, tf.data
pipelines. `data.open_source(spec)` -> `Source` is the one way in (sources; the pipelines in
pipeline; the openers folder, tfds_source and synthetic, whose images patterns draws); `splits`
holds the class splits."""

from keras_transfer.data.folder import list_split
from keras_transfer.data.pipeline import (AUTOTUNE, DataError, DatasetInfo, Source, decode_image,
                                          resize_size, serving_preprocess)
from keras_transfer.data.sources import open_source
from keras_transfer.data.tfds_source import IMAGENET_MEAN

__all__ = ["AUTOTUNE", "IMAGENET_MEAN", "DataError", "DatasetInfo", "Source", "decode_image",
           "list_split", "open_source", "resize_size", "serving_preprocess"]
