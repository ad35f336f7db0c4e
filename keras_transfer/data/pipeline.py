"""Dataset: a dataset's `info` and its tf.data pipelines of (mean-subtracted float32 images,
labels within a half), the same for every kind of dataset (sources.py opens them).

An opener gives records (encoded image or pixels, original label) per split; one in-graph step
keeps the requested classes and renumbers them 0..k-1 in the order of `classes`. Preprocessing
follows the paper: resize to R x R (R = 256 for S = 227), subtract the per-channel mean, random
S x S crop and mirror for training, the centre crop for evaluation.
"""

import dataclasses
import sys

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
MEAN_SAMPLE = 500              # images decoded to estimate a folder or TFDS dataset's mean
_TFDS_SHUFFLE_BUFFER = 10_000  # encoded images (~1 GB for ImageNet) on top of shuffled files
_EVAL_CACHE_BYTES = 256 << 20  # evaluation sets up to this size (as float crops) stay in memory
_SHUFFLE_GRAPH_SEED = 87654321  # any fixed non-zero value; this is TensorFlow's default graph seed
# Training images in a net's regime sample (Dataset.train_sample): 1,024 give its top-1 to about
# +-0.015, about the evaluation set's precision on the embedded default's halves.
TRAIN_SAMPLE = 1024
# Training augmentations: the paper's random crop and mirror, the mirror alone on the centre
# crop, or none (the centre crop, as evaluated). Less augmentation is the lever that moves a
# small task into the paper's overfitting regime in fewer steps (BUILD_NOTES.md, "The paper's
# regime").
AUGMENTATIONS = ("crop_mirror", "mirror", "none")


class DataError(ValueError):
    """A dataset that cannot be used as given: the message names the path and what to do."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    spec: str
    class_names: tuple
    families: dict | None  # {"natural": [...], "manmade": [...]} where the dataset defines them
    mean: tuple            # per-channel mean, RGB in 0..255, subtracted from every image
    fingerprint: str
    train_counts: tuple    # training images per class


def resize_size(image_size):
    """The side images are resized to before cropping: 256 for 227, in proportion otherwise."""
    return int(round(image_size * 256 / 227))


def serving_preprocess(images, image_size, mean):
    """Images (uint8 or float in 0..255, [B, H, W, 3] or [H, W, 3]) -> resized to R x R,
    centre-cropped to image_size, mean subtracted; float32. Used for evaluation and export."""
    r = resize_size(image_size)
    images = tf.image.resize(tf.cast(images, tf.float32), (r, r))
    top = (r - image_size) // 2  # Caffe's centre crop offset
    images = images[..., top:top + image_size, top:top + image_size, :]
    return images - tf.constant(mean, tf.float32)


def decode_image(encoded):
    """Any image TF decodes (JPEG incl. CMYK and grayscale, PNG, GIF, BMP, WebP) -> uint8 RGB."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


# What an opener measures for its DatasetInfo: the mean and the images per class.
def sample_mean(images):
    """Per-channel mean over a dataset of uint8 images, each image weighted equally."""
    means = images.map(lambda x: tf.reduce_mean(tf.cast(x, tf.float32), axis=(0, 1)),
                       num_parallel_calls=AUTOTUNE).ignore_errors()
    return [float(m) for m in np.mean(list(means.as_numpy_iterator()), axis=0)]


def class_counts(labels, num_classes):
    """[images of class 0, of class 1, ...] for integer labels in 0..num_classes-1."""
    return [int(c) for c in np.bincount(np.asarray(labels, np.int64), minlength=num_classes)]


def _map_and_batch(ds, fn, batch_size, drop_remainder, start=0):
    """Batches of fn(index, x, y), mapped in parallel. Elements fn fails on (images the listing
    scan could not tell were corrupt) are dropped and a running count is printed to stderr: TF's
    own per-element warning is hidden whenever TF_CPP_MIN_LOG_LEVEL >= 1. Counting per batch
    keeps the sequential step cheap; drops after the last batch of a finite pass go uncounted.
    `start` is the index of ds's first element in the whole stream (a resumed stream)."""
    ds = ds.enumerate(start).map(lambda i, record: (i, *fn(i, *record)),
                                 num_parallel_calls=AUTOTUNE)
    ds = ds.ignore_errors(log_warning=True).batch(batch_size, drop_remainder=drop_remainder)

    def count(state, batch):  # state: (last index seen, images dropped so far)
        i, x, y = batch
        dropped = state[1] + i[-1] - state[0] - tf.size(i, tf.int64)
        if dropped > state[1]:
            tf.print("keras_transfer.data: dropped an image that failed to decode;", dropped,
                     "dropped so far", output_stream=sys.stderr)
        return tf.stack([i[-1], dropped]), (x, y)

    return ds.scan(tf.constant([start - 1, 0], tf.int64), count).prefetch(AUTOTUNE)


class Dataset:
    """A dataset: `info`, and `train` / `eval` pipelines over any subset of its classes."""

    def __init__(self, info, records, decode, eval_counts, cache_selection):
        self.info = info
        self._records = records  # split "train" | "eval" -> (x, label) in stored order
        self._decode = decode    # x -> uint8 [H, W, 3]
        self._eval_counts = tuple(eval_counts)
        self._cache_selection = cache_selection  # the selected records fit in memory

    def _check(self, classes):
        classes = [int(c) for c in classes]
        n = len(self.info.class_names)
        if not classes or classes != sorted(set(classes)) or not 0 <= classes[0] <= classes[-1] < n:
            raise DataError(f"classes must be a non-empty, sorted list of distinct ids in [0, {n}) "
                            f"for {self.info.spec}, got {classes[:10]}")
        return classes

    def _select(self, records, classes, per_class):
        """Keeps `classes` (renumbered 0..k-1) and, with per_class, the first k of each."""
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(classes, tf.int64), tf.range(len(classes), dtype=tf.int32)), -1)
        ds = records.map(lambda x, y: (x, table.lookup(tf.cast(y, tf.int64))))
        ds = ds.filter(lambda x, y: y >= 0)
        if per_class is not None:
            def rank(seen, record):  # record -> (x, y, how many of class y came before it)
                x, y = record
                return seen + tf.one_hot(y, len(classes), dtype=tf.int32), (x, y, seen[y])

            ds = ds.scan(tf.zeros([len(classes)], tf.int32), rank)
            ds = ds.filter(lambda x, y, r: r < per_class)
            ds = ds.map(lambda x, y, r: (x, y))
        return ds

    def train(self, classes, batch_size, image_size, seed, per_class=None, start_batch=0,
              augmentation="crop_mirror"):
        """Infinite, shuffled, augmented (`augmentation`, one of AUGMENTATIONS) batches of
        (images, labels).

        start_batch=k gives the stream from its k-th batch on, identical to batches k, k+1...
        of start_batch=0 (a resumed run sees the data an uninterrupted one would): the skip
        runs over undecoded records, and augmentation is seeded by the element's position.
        """
        if augmentation not in AUGMENTATIONS:
            raise DataError(f"augmentation={augmentation!r} is not one of {AUGMENTATIONS}")
        classes = self._check(classes)
        counts = [self.info.train_counts[c] for c in classes]
        if per_class is not None:
            short = [(self.info.class_names[c], n)
                     for c, n in zip(classes, counts) if n < per_class]
            if per_class < 1 or short:
                raise DataError(f"per_class={per_class} needs at least that many training images "
                                f"in every class of {self.info.spec}; {short[:5]} have fewer: "
                                "lower it")
            counts = [per_class] * len(classes)
        selection = self._select(self._records("train"), classes, per_class)
        epoch = buffer = sum(counts)  # records per epoch
        if self._cache_selection:
            selection = selection.cache()  # the selection pass over the split runs once
        else:
            buffer = min(buffer, _TFDS_SHUFFLE_BUFFER)
        r = resize_size(image_size)
        mean = tf.constant(self.info.mean, tf.float32)

        def augment(i, x, y):
            # Seeds from (seed, element index) make crops and mirrors independent of parallelism.
            crop_seed = tf.stack([tf.constant(seed, tf.int64), 2 * i])
            if augmentation == "crop_mirror":
                image = tf.image.resize(tf.cast(self._decode(x), tf.float32), (r, r))
                image = tf.image.stateless_random_crop(image, (image_size, image_size, 3),
                                                       crop_seed) - mean
            else:
                image = serving_preprocess(self._decode(x), image_size, self.info.mean)
            if augmentation != "none":
                image = tf.image.stateless_random_flip_left_right(image, crop_seed + [0, 1])
            return image, y

        # Epoch e is shuffled with its own seed, so a resumed stream starts at its epoch and
        # skips only within it (undecoded records), instead of replaying every earlier epoch.
        def epoch_order(e):
            # tf.data pairs a shuffle's seed with the graph seed, which this traced function
            # inherits from the caller's global seed (every net's init seed sets one): pinned here,
            # the order depends on `seed` alone, and a global seed of 0 cannot make TensorFlow
            # compare the tensor seed with 0 as a Python bool.
            tf.random.set_seed(_SHUFFLE_GRAPH_SEED)
            return selection.shuffle(buffer, seed=seed * 1_000_003 + e)

        skip = int(start_batch) * batch_size
        ds = tf.data.Dataset.range(skip // epoch, 2**62).flat_map(epoch_order)
        ds = ds.skip(skip % epoch)
        return _map_and_batch(ds, augment, batch_size, drop_remainder=True, start=skip)

    def eval(self, classes, batch_size, image_size):
        """One pass over the evaluation images of `classes`, centre crop, in stored order."""
        ds = self._select(self._records("eval"), self._check(classes), None)
        return self._centre_crops(ds, batch_size, image_size, self.eval_size(classes))

    def _centre_crops(self, ds, batch_size, image_size, images):
        """Batches of centre-cropped `ds` (`images` of them) for a fixed pass, cached in memory
        when small enough."""
        def preprocess(i, x, y):
            return serving_preprocess(self._decode(x), image_size, self.info.mean), y

        ds = _map_and_batch(ds, preprocess, batch_size, drop_remainder=False)
        if images * image_size * image_size * 3 * 4 > _EVAL_CACHE_BYTES:
            return ds  # e.g. ImageNet's 50,000 validation crops would be 31 GB of floats
        # Small evaluation sets (the embedded default's: 12 MB) keep their preprocessed batches
        # after the first pass, so the evaluation after every interval costs only the forward
        # passes. Without tf.data's autotuning: Keras drops each evaluation's iterator when the
        # next evaluation starts, and the drop waits for the iterator's autotuning thread,
        # measured at 0.02-5 s per evaluation (BENCHMARKS.md, "Default sweep"); a cached pass
        # has nothing to tune.
        options = tf.data.Options()
        options.autotune.enabled = False
        return ds.cache().with_options(options)

    def train_sample(self, classes, batch_size, image_size, per_class=None,
                     size=TRAIN_SAMPLE):
        """A fixed subset of the training images a net trains on (`per_class` as in `train`),
        un-augmented (centre crop) like the evaluation set: the first ceil(size / classes) of
        each class, all of them where the net has fewer. Its loss and top-1 beside the
        validation ones tell a net that memorised its data from one still fitting it."""
        classes = self._check(classes)
        k = -(-size // len(classes))
        if per_class is not None:
            k = min(k, per_class)
        ds = self._select(self._records("train"), classes, k)
        return self._centre_crops(ds, batch_size, image_size, len(classes) * k)

    def eval_size(self, classes):
        """Number of evaluation images of `classes` (files skipped at run time not subtracted)."""
        return sum(self._eval_counts[c] for c in self._check(classes))

