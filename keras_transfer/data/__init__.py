"""The data floor: datasets (embedded synthetic, folder trees, TFDS), class splits, tf.data
pipelines. `data.open_dataset(spec)` -> `Dataset` is the one way in (sources; the pipelines in
pipeline; the openers folder, tfds_source and synthetic, whose images patterns draws); `splits`
holds the class splits."""

from keras_transfer.data.folder import list_split
from keras_transfer.data.pipeline import (AUGMENTATIONS, AUTOTUNE, DataError, DatasetInfo,
                                          Dataset, decode_image, resize_size, serving_preprocess)
from keras_transfer.data.datasets import open_dataset
from keras_transfer.data.tfds_dataset import IMAGENET_MEAN

__all__ = ["AUGMENTATIONS", "AUTOTUNE", "IMAGENET_MEAN", "DataError", "DatasetInfo", "Dataset",
           "decode_image", "list_split", "open_dataset", "resize_size", "serving_preprocess"]
