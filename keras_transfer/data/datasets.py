"""open_dataset(spec): the one way to a Dataset, for three kinds of dataset.

"synthetic" is the embedded dataset (synthetic.py), "folder:PATH" a folder tree (folder.py),
"tfds:NAME" or "tfds:imagefolder:PATH" a TFDS dataset (tfds_dataset.py). Each opener lists its
records and measures its DatasetInfo; the pipelines are the same for all (pipeline.py).
"""

import numpy as np
import tensorflow as tf

from keras_transfer.data import synthetic
from keras_transfer.data.folder import open_folder
from keras_transfer.data.pipeline import DataError, DatasetInfo, Dataset, class_counts
from keras_transfer.data.tfds_dataset import open_tfds


def _open_synthetic(cache_dir):
    d = synthetic.load(cache_dir=cache_dir)
    n = len(d.class_names)
    mean = tuple(float(m) for m in d.train_images.mean(axis=(0, 1, 2), dtype=np.float64))
    info = DatasetInfo("synthetic", tuple(d.class_names), d.families, mean, d.fingerprint,
                       tuple(class_counts(d.train_labels, n)))
    arrays = {"train": (d.train_images, d.train_labels), "eval": (d.val_images, d.val_labels)}
    return Dataset(info, lambda split: tf.data.Dataset.from_tensor_slices(arrays[split]),
                  tf.identity, class_counts(d.val_labels, n), cache_selection=True)


def open_dataset(spec="synthetic", data_dir=None, cache_dir=None, max_bad_fraction=0.001):
    """The Dataset named by spec: "synthetic", "folder:PATH", "tfds:NAME" or
    "tfds:imagefolder:PATH".

    data_dir is TFDS's data directory; cache_dir holds generated data and per-dataset statistics
    (default $KERAS_TRANSFER_CACHE or ~/.cache/keras_transfer); max_bad_fraction is the share of
    undecodable files a folder tree may have (they are skipped and logged) before it is refused.
    """
    if spec == "synthetic":
        return _open_synthetic(cache_dir)
    if spec.startswith("folder:"):
        return open_folder(spec, spec[len("folder:"):], cache_dir, max_bad_fraction)
    if spec.startswith("tfds:"):
        return open_tfds(spec, spec[len("tfds:"):], data_dir, cache_dir)
    raise DataError(f"unknown data source {spec!r}; use 'synthetic', 'folder:PATH' or 'tfds:NAME'")
