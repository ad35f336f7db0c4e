"""One-time conversion of a class-per-folder tree into a TFDS dataset of small JPEGs.

    python -m keras_transfer.prepare --dataset=folder:/data/imagenet --out=/data/tfds
    python -m keras_transfer.sweep --flagfile=flags/imagenet.flags \
        --dataset=tfds:imagenet_256 --data_dir=/data/tfds

reads ROOT/train/<class>/* and ROOT/val/<class>/* (ImageNet's layout) and writes
OUT/NAME/1.0.0/, a TFDS dataset (splits train and validation, labels named after the folders)
that the `tfds:NAME` source reads as it is. Every image is resized as the training pipeline
resizes it (bilinear, no antialias, to size x size) and re-encoded as a JPEG, so training decodes
256 x 256 JPEGs instead of full-size ones (BENCHMARKS.md "ImageNet input") and sees the same crops
up to JPEG re-encoding. Training examples are written in a fixed shuffled order (a shuffle buffer
over class-sorted files would not mix classes). Files that do not decode are skipped and counted,
as the folder source does. Shards are written in parallel, each renamed into place when complete
in OUT/NAME/incomplete.1.0.0/; a rerun after a kill redoes only the missing ones, and the
directory becomes 1.0.0 only once the metadata is written, so TFDS never sees a partial dataset.
"""

import concurrent.futures
import dataclasses
import json
import math
import os
import re
import shutil
import sys
import time

import numpy as np
import tensorflow as tf

from keras_transfer import data, files

VERSION = "1.0.0"
IMAGES_PER_SHARD = 1024  # ~25 MB shards at 256 px: fine-grained resume, many parallel readers
_SPLITS = (("train", "train"), ("validation", "val"))  # TFDS split name, folder under ROOT
_SEED = 0  # the training examples' written order


@dataclasses.dataclass(frozen=True)
class Prepared:
    spec: str       # "tfds:NAME", the sweep's --dataset
    data_dir: str   # OUT, the sweep's --data_dir
    path: str       # OUT/NAME/1.0.0
    counts: dict    # {"train": [images per class], "validation": [...]}
    skipped: dict   # {relative path: why} of files not written
    reused: bool    # OUT already held the finished dataset; nothing was written


def default_name(root, size):
    """The dataset's TFDS name from ROOT's folder name: /data/ImageNet, 256 -> imagenet_256."""
    base = re.sub(r"[^a-z0-9]+", "_", os.path.basename(os.path.normpath(root)).lower()).strip("_")
    return f"{base if base[:1].isalpha() else 'images_' + base}_{size}".replace("__", "_")


def _check_name(name):
    import tensorflow_datasets as tfds

    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"--name={name!r} is not a TFDS dataset name: use lower case letters, "
                         "digits and '_', starting with a letter")
    try:
        tfds.builder_cls(name)
    except tfds.core.DatasetNotFoundError:
        return
    raise ValueError(f"--name={name!r} is a dataset TFDS itself defines (tfds:{name} would open "
                     "that one); choose another name")


def _shard_name(name, split, i, n):
    return f"{name}-{split}.tfrecord-{i:05d}-of-{n:05d}"  # TFDS's default file template


def _convert(size, quality):
    """path -> JPEG bytes of the image resized as data.Dataset.train resizes it."""
    def convert(path):
        image = tf.image.resize(tf.cast(data.decode_image(tf.io.read_file(path)), tf.float32),
                                (size, size))  # bilinear, no antialias: the pipeline's resize
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        return tf.io.encode_jpeg(image, quality=quality)
    return convert


def _write_shard(rows, target, progress, features, convert, threads):
    """Writes rows [(relative path, label, absolute path)] to target (renamed into place last);
    progress (a JSON of labels written and files skipped) is written before the rename."""
    paths = [p for _, _, p in rows]
    ds = tf.data.Dataset.from_tensor_slices((tf.range(len(rows)), paths))
    ds = ds.map(lambda i, p: (i, convert(p)), num_parallel_calls=threads, deterministic=True)
    labels, written = [], set()
    with tf.io.TFRecordWriter(target + ".tmp") as writer:
        for i, jpeg in ds.ignore_errors().prefetch(2).as_numpy_iterator():
            label = rows[i][1]
            writer.write(features.serialize_example({"image": jpeg, "label": label}))
            labels.append(label)
            written.add(int(i))
    skipped = {rows[i][0]: "failed to decode" for i in range(len(rows)) if i not in written}
    report = {"labels": labels, "skipped": skipped, "bytes": os.path.getsize(target + ".tmp")}
    with open(progress + ".tmp", "w") as f:
        json.dump(report, f)
    os.replace(progress + ".tmp", progress)
    os.replace(target + ".tmp", target)
    return report


def _plan(source, root, shards):
    """{split: (shards [[(relative path, label, path)]], {relative path: why skipped}, files)}:
    training rows in a fixed random order, validation rows in the folder source's order."""
    plan = {}
    for split, folder in _SPLITS:
        listed = data.list_split(root, folder, source.info.class_names)
        records = source._records("train" if split == "train" else "eval")  # less its bad files
        kept = {p.decode() for b in records.batch(65536).as_numpy_iterator() for p in b[0]}
        rows = [(rel, label, os.path.join(root, rel)) for rel, _, label in listed]
        skipped = {rel: "not a decodable image (listing scan)" for rel, _, p in rows
                   if p not in kept}
        rows = [r for r in rows if r[2] in kept]
        if split == "train":
            rows = [rows[i] for i in np.random.default_rng(_SEED).permutation(len(rows))]
        plan[split] = (rows, skipped, len(listed))
    n_train = len(plan["train"][0])
    for split, (rows, skipped, listed) in plan.items():
        n = math.ceil(shards * len(rows) / n_train if shards else len(rows) / IMAGES_PER_SHARD)
        bounds = np.linspace(0, len(rows), max(1, min(n, len(rows))) + 1).astype(int)
        plan[split] = ([rows[a:b] for a, b in zip(bounds[:-1], bounds[1:])], skipped, listed)
    return plan


def _write_shards(plan, work, name, features, convert, workers, log):
    """{(split, shard index): report} of every shard, writing (in parallel) those not in work."""
    cores = len(os.sched_getaffinity(0))
    workers = workers or cores
    threads = max(1, cores // workers)  # parallel decodes within one shard
    reports, futures, start, done = {}, {}, time.perf_counter(), 0
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for split, (shards, _, _) in plan.items():
            for i, rows in enumerate(shards):
                target = os.path.join(work, _shard_name(name, split, i, len(shards)))
                progress = os.path.join(work, "progress", os.path.basename(target) + ".json")
                report = files.read_json(progress) if os.path.exists(target) else None
                if report is not None:  # an earlier run's (a damaged report: written again)
                    reports[split, i] = report
                else:
                    futures[pool.submit(_write_shard, rows, target, progress, features, convert,
                                        threads)] = (split, i, len(rows))
        try:
            for k, future in enumerate(concurrent.futures.as_completed(futures), 1):
                split, i, count = futures[future]
                reports[split, i] = future.result()
                done += count
                if k % max(1, len(futures) // 20) == 0 or k == len(futures):
                    seconds = time.perf_counter() - start
                    log(f"{k}/{len(futures)} shards written, {done / seconds:.0f} images/s, "
                        f"{seconds:.0f} s")
        except BaseException:  # Ctrl-C, a full disk: finish the shards under way, start no more
            pool.shutdown(cancel_futures=True)
            raise
    return reports


def prepare(root, out, name=None, size=256, quality=90, shards=0, workers=None,
            max_bad_fraction=0.001, cache_dir=None, log=print):
    """Converts the folder tree ROOT into the TFDS dataset OUT/NAME/1.0.0 (see the module doc);
    returns at once, reused=True, when OUT already holds it."""
    import tensorflow_datasets as tfds  # slow to import; only this path needs it

    root = os.path.abspath(os.path.expanduser(root))
    out = os.path.abspath(os.path.expanduser(out))
    if not os.path.isdir(root):
        raise data.DataError(f"{root} is not a directory: --dataset=folder:ROOT needs "
                             "ROOT/train/<class>/<images> and ROOT/val/<class>/<images>")
    if not 64 <= size <= 1024 or not 1 <= quality <= 100 or shards < 0:
        raise ValueError(f"--size={size} must be in [64, 1024], --quality={quality} in [1, 100] "
                         f"and --shards={shards} >= 0")
    name = name or default_name(root, size)
    _check_name(name)
    final = os.path.join(out, name, VERSION)
    settings = {"size": size, "quality": quality}
    if os.path.exists(os.path.join(final, "prepare.json")):
        done = files.read_json(os.path.join(final, "prepare.json"))
        if done is None or not {*settings, "counts", "skipped"} <= set(done):
            raise ValueError(f"{final}/prepare.json is damaged, so the finished dataset there "
                             f"cannot be checked; delete {final} and rerun to prepare it again")
        if {k: done[k] for k in settings} != settings:
            raise ValueError(f"{final} already holds a finished dataset with "
                             f"{ {k: done[k] for k in settings} }, not {settings}; choose another "
                             "--name or --out, or delete it")
        log(f"{final} already holds the finished dataset; nothing to do")
        return Prepared(f"tfds:{name}", out, final, done["counts"], done["skipped"], True)
    if os.path.exists(final):
        raise ValueError(f"{final} exists but is not a dataset prepare finished; delete it or "
                         "choose another --name or --out")

    source = data.open_dataset(f"folder:{root}", cache_dir=cache_dir,
                              max_bad_fraction=max_bad_fraction)
    class_names = list(source.info.class_names)
    plan = _plan(source, root, shards)
    work = os.path.join(out, name, f"incomplete.{VERSION}")
    stamp = dict(settings, fingerprint=source.info.fingerprint, seed=_SEED,
                 shards={split: len(plan[split][0]) for split in plan})
    if os.path.exists(os.path.join(work, "plan.json")):
        # Another tree or other settings (or a damaged plan): start afresh.
        if files.read_json(os.path.join(work, "plan.json")) != stamp:
            log(f"{work}: left by a run with other settings or files; starting afresh")
            shutil.rmtree(work)
    os.makedirs(os.path.join(work, "progress"), exist_ok=True)
    with open(os.path.join(work, "plan.json"), "w") as f:
        json.dump(stamp, f)

    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(size, size, 3), encoding_format="jpeg"),
        "label": tfds.features.ClassLabel(names=class_names)})
    reports = _write_shards(plan, work, name, features, _convert(size, quality), workers, log)
    counts, skipped, split_infos = {}, {}, []
    for split, (shards_rows, scan_skipped, _) in plan.items():
        parts = [reports[split, i] for i in range(len(shards_rows))]
        labels = [label for p in parts for label in p["labels"]]
        counts[split] = [int(c) for c in np.bincount(labels, minlength=len(class_names))]
        skipped.update(scan_skipped)
        for p in parts:
            skipped.update(p["skipped"])
        split_infos.append(tfds.core.SplitInfo(
            name=split, shard_lengths=[len(p["labels"]) for p in parts],
            num_bytes=sum(p["bytes"] for p in parts)))
        empty = [class_names[c] for c, n in enumerate(counts[split]) if n == 0]
        if empty:
            raise data.DataError(f"classes {empty[:5]} have no decodable images in {split}; "
                                 f"fix them and run again ({work} keeps the work done)")
    total = sum(listed for _, _, listed in plan.values())
    if len(skipped) > max_bad_fraction * total:
        shown = "; ".join(f"{rel}: {why}" for rel, why in sorted(skipped.items())[:10])
        raise data.DataError(f"{len(skipped)} of {total} files in {root} do not decode (more "
                             f"than max_bad_fraction={max_bad_fraction}): {shown}")

    tfds.folder_dataset.write_metadata(
        data_dir=work, features=features, split_infos=split_infos, version=VERSION,
        check_data=False, description=f"{root} resized to {size}x{size} (bilinear), JPEG "
        f"quality {quality}, by keras_transfer.prepare")
    with open(os.path.join(work, "prepare.json"), "w") as f:
        json.dump(dict(settings, source=root, fingerprint=source.info.fingerprint, counts=counts,
                       skipped=skipped), f, indent=1)
    shutil.rmtree(os.path.join(work, "progress"))  # a kill from here on: shards are redone
    os.remove(os.path.join(work, "plan.json"))
    os.replace(work, final)  # the finished dataset appears at once
    log(f"wrote {final}: {sum(counts['train'])} training and {sum(counts['validation'])} "
        f"validation images, {len(skipped)} files skipped")
    return Prepared(f"tfds:{name}", out, final, counts, skipped, False)


def main(argv):
    from absl import flags

    from keras_transfer import cli  # like absl: only the command needs it

    cli.no_arguments(argv, "--dataset=folder:/data/imagenet")
    f = flags.FLAGS
    spec = f.dataset
    if spec is None:
        sys.exit("error: pass --dataset=folder:ROOT, the folder tree to prepare")
    if not spec.startswith("folder:"):
        sys.exit(f"error: --dataset={spec!r}: only folder:ROOT (ROOT/train/<class>/*, "
                 "ROOT/val/<class>/*) can be prepared")
    try:
        done = prepare(spec[len("folder:"):], f.out, name=f.name, size=f.size,
                       quality=f.quality, shards=f.shards, workers=f.workers,
                       max_bad_fraction=f.max_bad_fraction)
    except cli.user_errors() as e:
        sys.exit(f"error: {e}")
    except OSError as e:  # an --out that cannot be written, a disk that fills up
        sys.exit(f"error: {e.filename}: {e.strerror}; --out must be a writable directory "
                 "(a rerun keeps the shards already written)")
    print(f"train with: --dataset={done.spec} --data_dir={done.data_dir}")


def define_flags():
    # Defined only when run as a command (the sweep's flags may share the process).
    from absl import flags

    from keras_transfer import cli

    flags.DEFINE_string("dataset", None, "folder:ROOT, with ROOT/train/<class>/* and "
                        "ROOT/val/<class>/*.")
    cli.old_name("source", "dataset")  # the flag's name until 2026-12-07
    flags.DEFINE_string("out", None, "TFDS data dir to write into (the sweep's --data_dir).",
                        required=True)
    flags.DEFINE_string("name", None, "TFDS dataset name (default: ROOT's folder name and "
                        "--size, e.g. imagenet_256; names starting with 'imagenet' get "
                        "ImageNet's mean pixel).")
    flags.DEFINE_integer("size", 256, "Side of the stored images: the pipeline's resize, 256 "
                         "for 227 px crops (data.resize_size).")
    flags.DEFINE_integer("quality", 90, "JPEG quality of the stored images.")
    flags.DEFINE_integer("shards", 0, "Training shards (validation in proportion); 0: "
                         f"{IMAGES_PER_SHARD} images each.")
    flags.DEFINE_integer("workers", None, "Shards written at once (default: CPU cores).")
    flags.DEFINE_float("max_bad_fraction", 0.001, "Share of undecodable files tolerated.",
                       lower_bound=0.0, upper_bound=1.0)


if __name__ == "__main__":
    from absl import app

    from keras_transfer import cli

    define_flags()
    app.run(main, flags_parser=cli.parse_flags)
