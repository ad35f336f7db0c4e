"""TFDS datasets as a Dataset: "tfds:NAME" (prepared on first use) or "tfds:imagefolder:PATH".

The class counts (one pass over the labels) and the mean (of a sample of images; Caffe's for
ImageNet) are computed when a dataset is first opened and cached under its fingerprint (the
builder's name and split sizes).
"""

import hashlib
import logging
import os

import numpy as np

from keras_transfer.data.cache import cache_root, cached_json
from keras_transfer.data.pipeline import (MEAN_SAMPLE, DataError, DatasetInfo, Dataset,
                                          class_counts, decode_image, sample_mean)

IMAGENET_MEAN = (123.68, 116.78, 103.94)  # Caffe's ILSVRC-2012 mean pixel, RGB
_EVAL_SPLITS = ("validation", "val", "test")
log = logging.getLogger(__name__)


def open_tfds(spec, name, data_dir, cache_dir):
    """The Dataset of TFDS dataset `name`, named spec ("tfds:NAME")."""
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
        counts = {s: class_counts(np.concatenate(list(records(s).map(lambda x, y: y).batch(4096)
                                                .as_numpy_iterator())), len(class_names))
                  for s in ("train", "eval")}
        if name.startswith("imagenet"):
            mean = list(IMAGENET_MEAN)
        else:
            sample = records("train").take(MEAN_SAMPLE)
            mean = sample_mean(sample.map(lambda x, y: decode_image(x)))
        return {"counts": counts, "mean": mean}

    cached = cached_json(os.path.join(cache_root(cache_dir), "tfds", f"{fingerprint}.json"),
                          stats)
    info = DatasetInfo(spec, class_names, None, tuple(cached["mean"]), fingerprint,
                       tuple(cached["counts"]["train"]))
    return Dataset(info, records, decode_image, cached["counts"]["eval"], cache_selection=False)
