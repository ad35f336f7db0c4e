"""tf.data pipelines of (mean-subtracted float32 images, labels within a half) for three sources.

`open_source(spec)` takes "synthetic" (the embedded dataset), "folder:PATH" (PATH/train/<class>/*
and PATH/val/<class>/*, ImageNet's usual layout) or "tfds:NAME" (a TFDS dataset; also
"tfds:imagefolder:PATH"). Every source yields records (encoded image or pixels, original label);
one in-graph step keeps the requested classes and renumbers them 0..k-1 in the order of
`classes`. Preprocessing follows the paper: resize to R x R (R = 256 for S = 227), subtract the
per-channel mean, random S x S crop and mirror for training, the centre crop for evaluation.
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf

from keras_transfer.data import synthetic

AUTOTUNE = tf.data.AUTOTUNE
IMAGENET_MEAN = (123.68, 116.78, 103.94)  # Caffe's ILSVRC-2012 mean pixel, RGB
_MEAN_SAMPLE = 500          # images decoded to estimate a folder or TFDS dataset's mean
_TFDS_SHUFFLE_BUFFER = 10_000  # encoded images (~1 GB for ImageNet) on top of shuffled files
_EVAL_CACHE_BYTES = 256 << 20  # evaluation sets up to this size (as float crops) stay in memory
_EVAL_SPLITS = ("validation", "val", "test")
log = logging.getLogger(__name__)


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


def _cache_root(cache_dir):
    return (cache_dir or os.environ.get("KERAS_TRANSFER_CACHE")
            or os.path.join(os.path.expanduser("~"), ".cache", "keras_transfer"))


def _cached_json(path, compute):
    """compute() once; its JSON result is kept at path (written atomically) for later opens."""
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    value = compute()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")  # concurrent openers
    with os.fdopen(fd, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)
    return value


def decode_image(encoded):
    """Any image TF decodes (JPEG incl. CMYK and grayscale, PNG, GIF, BMP, WebP) -> uint8 RGB."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _sample_mean(images):
    """Per-channel mean over a dataset of uint8 images, each image weighted equally."""
    means = images.map(lambda x: tf.reduce_mean(tf.cast(x, tf.float32), axis=(0, 1)),
                       num_parallel_calls=AUTOTUNE).ignore_errors()
    return [float(m) for m in np.mean(list(means.as_numpy_iterator()), axis=0)]


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


def _counts(labels, num_classes):
    return [int(c) for c in np.bincount(np.asarray(labels, np.int64), minlength=num_classes)]


class Source:
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

    def train(self, classes, batch_size, image_size, seed, per_class=None, start_batch=0):
        """Infinite, shuffled, augmented (random crop, mirror) batches of (images, labels).

        start_batch=k gives the stream from its k-th batch on, identical to batches k, k+1...
        of start_batch=0 (a resumed run sees the data an uninterrupted one would): the skip
        runs over undecoded records, and augmentation is seeded by the element's position.
        """
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
            image = tf.image.resize(tf.cast(self._decode(x), tf.float32), (r, r))
            crop_seed = tf.stack([tf.constant(seed, tf.int64), 2 * i])
            image = tf.image.stateless_random_crop(image, (image_size, image_size, 3), crop_seed)
            image = tf.image.stateless_random_flip_left_right(image, crop_seed + [0, 1])
            return image - mean, y

        # Epoch e is shuffled with its own seed, so a resumed stream starts at its epoch and
        # skips only within it (undecoded records), instead of replaying every earlier epoch.
        skip = int(start_batch) * batch_size
        ds = tf.data.Dataset.range(skip // epoch, 2**62).flat_map(
            lambda e: selection.shuffle(buffer, seed=seed * 1_000_003 + e))
        ds = ds.skip(skip % epoch)
        return _map_and_batch(ds, augment, batch_size, drop_remainder=True, start=skip)

    def eval(self, classes, batch_size, image_size):
        """One pass over the evaluation images of `classes`, centre crop, in stored order."""
        def preprocess(i, x, y):
            return serving_preprocess(self._decode(x), image_size, self.info.mean), y

        ds = self._select(self._records("eval"), self._check(classes), None)
        ds = _map_and_batch(ds, preprocess, batch_size, drop_remainder=False)
        if self.eval_size(classes) * image_size * image_size * 3 * 4 > _EVAL_CACHE_BYTES:
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

    def eval_size(self, classes):
        """Number of evaluation images of `classes` (files skipped at run time not subtracted)."""
        return sum(self._eval_counts[c] for c in self._check(classes))


# ---------------------------------------------------------------- synthetic
def _synthetic_source(cache_dir):
    d = synthetic.load(cache_dir=cache_dir)
    n = len(d.class_names)
    mean = tuple(float(m) for m in d.train_images.mean(axis=(0, 1, 2), dtype=np.float64))
    info = DatasetInfo("synthetic", tuple(d.class_names), d.families, mean, d.fingerprint,
                       tuple(_counts(d.train_labels, n)))
    arrays = {"train": (d.train_images, d.train_labels), "eval": (d.val_images, d.val_labels)}
    return Source(info, lambda split: tf.data.Dataset.from_tensor_slices(arrays[split]),
                  tf.identity, _counts(d.val_labels, n), cache_selection=True)


# ---------------------------------------------------------------- folder tree
def _check_file(path, size):
    """Why the file is not a decodable image, judged from its first and last bytes; None if fine.
    Cheap (two small reads), so it runs on every file; a corrupt body is caught at decode time."""
    if size == 0:
        return "empty file"
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            if head.startswith(b"\xff\xd8\xff"):
                f.seek(max(size - 4096, 0))
                return None if b"\xff\xd9" in f.read() else "truncated JPEG (no end marker)"
            if head.startswith(b"\x89PNG\r\n\x1a\n"):
                f.seek(max(size - 64, 0))
                return None if b"IEND" in f.read() else "truncated PNG (no IEND chunk)"
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if (head[:6] in (b"GIF87a", b"GIF89a") or head[:2] == b"BM" or head[:2] == b"\xff\x0a"
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or head[4:12] == b"JXL \r\n\x87\n"):
        return None
    return "not an image (JPEG, PNG, GIF, BMP, WebP or JPEG XL)"


def list_split(root, split, class_names):
    """[(relative path, size, label)] in sorted file-name order within each class."""
    files = []
    for label, name in enumerate(class_names):
        folder = os.path.join(root, split, name)
        if not os.path.isdir(folder):
            raise DataError(f"{folder} is missing: every class in {root}/train needs a folder of "
                            f"validation images in {root}/{split}")
        entries = sorted((e for e in os.scandir(folder)
                          if e.is_file() and not e.name.startswith(".")), key=lambda e: e.name)
        if not entries:
            raise DataError(f"class folder {folder} holds no images; add some or remove the class "
                            "from both train/ and val/")
        files += [(f"{split}/{name}/{e.name}", e.stat().st_size, label) for e in entries]
    return files


def _folder_source(spec, root, cache_dir, max_bad_fraction):
    root = os.path.abspath(os.path.expanduser(root))
    for sub in ("train", "val"):
        if not os.path.isdir(os.path.join(root, sub)):
            raise DataError(f"{os.path.join(root, sub)} is not a directory: {spec} needs "
                            "PATH/train/<class>/<images> and PATH/val/<class>/<images>")
    class_names = sorted(e.name for e in os.scandir(os.path.join(root, "train")) if e.is_dir())
    if not class_names:
        raise DataError(f"{root}/train has no class folders; put each class's images in "
                        f"{root}/train/<class name>/")
    extra = sorted(e.name for e in os.scandir(os.path.join(root, "val"))
                   if e.is_dir() and e.name not in class_names)
    if extra:
        raise DataError(f"{root}/val has classes {extra[:5]} that {root}/train lacks; "
                        "add their training images or remove them from val/")
    files = {split: list_split(root, split, class_names) for split in ("train", "val")}
    listing = "\n".join(f"{rel}\t{size}" for rel, size, _ in sorted(files["train"] + files["val"]))
    fingerprint = hashlib.sha256(listing.encode()).hexdigest()[:16]

    def scan():
        every = files["train"] + files["val"]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:  # I/O bound; helps on network disks
            reasons = pool.map(_check_file, [os.path.join(root, rel) for rel, _, _ in every],
                               [size for _, size, _ in every], chunksize=256)
            return {rel: why for (rel, _, _), why in zip(every, reasons) if why}

    cache = os.path.join(_cache_root(cache_dir), "folders", fingerprint)
    bad = _cached_json(cache + "-bad.json", scan)
    total = len(files["train"]) + len(files["val"])
    if bad:
        shown = "; ".join(f"{rel}: {why}" for rel, why in sorted(bad.items())[:10])
        log.warning("%s: skipping %d of %d files that are not decodable images: %s",
                    spec, len(bad), total, shown)
        if len(bad) > max_bad_fraction * total:
            raise DataError(f"{len(bad)} of {total} files in {root} are not decodable images "
                            f"(more than max_bad_fraction={max_bad_fraction}): {shown}; fix or "
                            "delete them, or raise max_bad_fraction")
    for split in files:
        files[split] = [f for f in files[split] if f[0] not in bad]
        empty = set(class_names) - {class_names[label] for _, _, label in files[split]}
        if empty:
            raise DataError(f"classes {sorted(empty)[:5]} in {root}/{split} have no decodable "
                            "images")

    def records(split):
        rows = files["train" if split == "train" else "val"]
        return tf.data.Dataset.from_tensor_slices(
            ([os.path.join(root, rel) for rel, _, _ in rows], [label for _, _, label in rows]))

    def decode(path):
        return decode_image(tf.io.read_file(path))

    def sample_mean():
        rows = files["train"]
        paths = [os.path.join(root, rows[i][0])
                 for i in np.linspace(0, len(rows) - 1, min(_MEAN_SAMPLE, len(rows))).astype(int)]
        return _sample_mean(tf.data.Dataset.from_tensor_slices(paths).map(decode))

    mean = tuple(_cached_json(cache + "-mean.json", sample_mean))
    info = DatasetInfo(spec, tuple(class_names), None, mean, fingerprint,
                       tuple(_counts([label for _, _, label in files["train"]], len(class_names))))
    return Source(info, records, decode, _counts([f[2] for f in files["val"]], len(class_names)),
                  cache_selection=True)


# ---------------------------------------------------------------- TFDS
def _tfds_source(spec, name, data_dir, cache_dir):
    import tensorflow_datasets as tfds  # slow to import; only this source needs it

    if name.startswith("imagefolder:"):
        builder = tfds.ImageFolder(name[len("imagefolder:"):])
    else:
        try:
            builder = tfds.builder(name, data_dir=data_dir)
            if not builder.is_prepared():
                log.info("%s: preparing the TFDS dataset in %s (once)", spec, builder.data_dir)
                builder.download_and_prepare()
        except Exception as e:  # TFDS raises many types; the user needs the message and a hint
            manual = os.path.join(data_dir or "~/tensorflow_datasets", "downloads", "manual")
            raise DataError(f"cannot open TFDS dataset {name!r} (data_dir={data_dir}): {e}. "
                            "Datasets with a manual download (imagenet2012: "
                            "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar) need their files "
                            f"in {manual}") from None
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise DataError(f"TFDS dataset {name!r} has features {list(features)}; "
                        "it needs 'image' and 'label'")
    splits = builder.info.splits
    eval_split = next((s for s in _EVAL_SPLITS if s in splits), None)
    if "train" not in splits or eval_split is None:
        raise DataError(f"TFDS dataset {name!r} has splits {list(splits)}; it needs 'train' and "
                        f"one of {_EVAL_SPLITS}")
    class_names = tuple(features["label"].names)
    sizes = sorted((str(s), int(splits[s].num_examples)) for s in splits)  # Split('train')=train
    fingerprint = hashlib.sha256(f"{builder.info.full_name} {sizes}".encode()).hexdigest()[:16]

    def records(split):
        # Files in order (TFDS shuffled the examples when it wrote them): the deterministic order
        # that per_class and resumed streams rely on.
        return builder.as_dataset(
            split="train" if split == "train" else eval_split, shuffle_files=False,
            decoders={"image": tfds.decode.SkipDecoding()},
        ).map(lambda ex: (ex["image"], ex["label"]))

    def stats():
        # One pass over the labels (for ImageNet it reads every record once); cached.
        counts = {s: _counts(np.concatenate(list(records(s).map(lambda x, y: y).batch(4096)
                                                .as_numpy_iterator())), len(class_names))
                  for s in ("train", "eval")}
        if name.startswith("imagenet"):
            mean = list(IMAGENET_MEAN)
        else:
            sample = records("train").take(_MEAN_SAMPLE)
            mean = _sample_mean(sample.map(lambda x, y: decode_image(x)))
        return {"counts": counts, "mean": mean}

    cached = _cached_json(os.path.join(_cache_root(cache_dir), "tfds", f"{fingerprint}.json"),
                          stats)
    info = DatasetInfo(spec, class_names, None, tuple(cached["mean"]), fingerprint,
                       tuple(cached["counts"]["train"]))
    return Source(info, records, decode_image, cached["counts"]["eval"], cache_selection=False)


def open_source(spec="synthetic", data_dir=None, cache_dir=None, max_bad_fraction=0.001):
    """The Source named by spec: "synthetic", "folder:PATH", "tfds:NAME" or "tfds:imagefolder:PATH".

    data_dir is TFDS's data directory; cache_dir holds generated data and per-dataset statistics
    (default $KERAS_TRANSFER_CACHE or ~/.cache/keras_transfer); max_bad_fraction is the share of
    undecodable files a folder tree may have (they are skipped and logged) before it is refused.
    """
    if spec == "synthetic":
        return _synthetic_source(cache_dir)
    if spec.startswith("folder:"):
        return _folder_source(spec, spec[len("folder:"):], cache_dir, max_bad_fraction)
    if spec.startswith("tfds:"):
        return _tfds_source(spec, spec[len("tfds:"):], data_dir, cache_dir)
    raise DataError(f"unknown data source {spec!r}; use 'synthetic', 'folder:PATH' or 'tfds:NAME'")
