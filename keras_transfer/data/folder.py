"""Folder trees as a Dataset: PATH/train/<class>/* and PATH/val/<class>/*, ImageNet's usual layout.

Every file is checked from its first and last bytes when a tree is first opened (the verdicts are
cached under the listing's fingerprint); files that are not decodable images are skipped and
logged, and a tree with more than max_bad_fraction of them is refused.
"""

import concurrent.futures
import hashlib
import logging
import os

import numpy as np
import tensorflow as tf

from keras_transfer.data.cache import cache_root, cached_json
from keras_transfer.data.pipeline import (MEAN_SAMPLE, DataError, DatasetInfo, Dataset,
                                          class_counts, decode_image, sample_mean)

log = logging.getLogger(__name__)


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
        try:
            entries = sorted(((e.name, e.stat().st_size) for e in os.scandir(folder)
                              if e.is_file() and not e.name.startswith(".")))
        except OSError as e:  # a symlink loop, a file that vanished or is not readable
            raise DataError(f"{e.filename or folder}: {e.strerror}; fix or remove it") from None
        if not entries:
            raise DataError(f"class folder {folder} holds no images; add some or remove the class "
                            "from both train/ and val/")
        files += [(f"{split}/{name}/{entry}", size, label) for entry, size in entries]
    return files


def open_folder(spec, root, cache_dir, max_bad_fraction):
    """The Dataset of the tree at root, named spec ("folder:PATH")."""
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

    cache = os.path.join(cache_root(cache_dir), "folders", fingerprint)
    bad = cached_json(cache + "-bad.json", scan)
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

    def train_mean():
        rows = files["train"]
        paths = [os.path.join(root, rows[i][0])
                 for i in np.linspace(0, len(rows) - 1, min(MEAN_SAMPLE, len(rows))).astype(int)]
        return sample_mean(tf.data.Dataset.from_tensor_slices(paths).map(decode))

    mean = tuple(cached_json(cache + "-mean.json", train_mean))
    train_counts = class_counts([label for _, _, label in files["train"]], len(class_names))
    info = DatasetInfo(spec, tuple(class_names), None, mean, fingerprint, tuple(train_counts))
    eval_counts = class_counts([label for _, _, label in files["val"]], len(class_names))
    return Dataset(info, records, decode, eval_counts, cache_selection=True)
