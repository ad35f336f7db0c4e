"""Images/s of the training pipelines: folder (JPEG decode, resize 256, crop 227, mirror),
prepared (the same tree after keras_transfer.prepare: 256 x 256 JPEGs via the tfds source) and
synthetic (32 px in memory). Not a test; results go to BENCHMARKS.md "## Data pipelines" and
"## ImageNet input".

    .venv/bin/python scripts/bench_data.py                 # ~1-2 min on 2 cores
    .venv/bin/python scripts/bench_data.py --tree /data/imagenet --seconds 60
    taskset -c 0 .venv/bin/python scripts/bench_data.py --images 300 --classes 3 --grain 20 \
        --cases folder,prepared                            # per core: pinned to one core

Without --tree it writes (once) a tree of --images 500x375 JPEGs of smooth noise (~75 KB, or
~100 KB with --grain 20; ImageNet's average ~110 KB) under --workdir and reuses it; --cases
prepared converts it (once) under --workdir/tfds.
"""

import argparse
import os
import tempfile
import time

import numpy as np
from PIL import Image

from keras_transfer import data, prepare


def make_tree(root, images, classes, grain=12):
    """images JPEGs of 500x375, split over classes, plus 2 validation images per class."""
    rng = np.random.default_rng(0)
    for i in range(images + 2 * classes):
        split, c = ("train", i % classes) if i < images else ("val", i % classes)
        folder = os.path.join(root, split, f"class{c:03d}")
        os.makedirs(folder, exist_ok=True)
        # Smooth colour field plus grain: compresses like a photograph, not like white noise.
        coarse = rng.uniform(0, 255, (12, 16, 3)).astype(np.uint8)
        base = np.asarray(Image.fromarray(coarse).resize((500, 375), Image.BICUBIC), np.float32)
        pixels = np.clip(base + rng.normal(0, grain, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f"img{i:05d}.JPEG"), quality=90)


def images_per_second(ds, batch_size, seconds, warmup=3):
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    start, batches = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        next(it)
        batches += 1
    return batches * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", help="an existing folder tree (PATH/train/<class>/...)")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "bench_data"))
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--grain", type=float, default=12, help="noise std (file size)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--cases", default="folder,synthetic", help="of folder,prepared,synthetic")
    args = parser.parse_args()
    cases = args.cases.split(",")

    grain = "" if args.grain == 12 else f"_g{args.grain:g}"
    tree = args.tree or os.path.join(args.workdir, f"tree_{args.images}_{args.classes}{grain}")
    if not args.tree and not os.path.isdir(tree):
        start = time.perf_counter()
        make_tree(tree + ".tmp", args.images, args.classes, args.grain)
        os.replace(tree + ".tmp", tree)
        print(f"wrote {tree} in {time.perf_counter() - start:.0f} s")
    cache = os.path.join(args.workdir, "cache")
    cores = len(os.sched_getaffinity(0))

    if "folder" in cases:
        start = time.perf_counter()
        folder = data.open_dataset(f"folder:{tree}", cache_dir=cache)
        kb = sum(e.stat().st_size for d in os.scandir(os.path.join(tree, "train"))
                 for e in os.scandir(d)) / sum(folder.info.train_counts) / 1e3
        print(f"folder: open (list, scan, mean) {time.perf_counter() - start:.1f} s, "
              f"{sum(folder.info.train_counts)} training images, {kb:.0f} KB each")
        classes = range(len(folder.info.class_names))
        rate = images_per_second(folder.train(classes, 64, 227, seed=0), 64, args.seconds)
        print(f"folder: {rate:.0f} images/s (batch 64, 500x375 JPEG -> 256 -> crop 227, mirror)")

    if "prepared" in cases:
        done = prepare.prepare(tree, os.path.join(args.workdir, "tfds"), cache_dir=cache,
                               log=lambda line: print("prepare:", line))
        source = data.open_dataset(done.spec, data_dir=done.data_dir, cache_dir=cache)
        classes = range(len(source.info.class_names))
        files = [os.path.join(done.path, f) for f in os.listdir(done.path) if "-train." in f]
        kb = sum(map(os.path.getsize, files)) / sum(source.info.train_counts) / 1e3
        rate = images_per_second(source.train(classes, 64, 227, seed=0), 64, args.seconds)
        print(f"prepared: {rate:.0f} images/s (batch 64, 256x256 JPEG ({kb:.0f} KB) -> crop 227, "
              "mirror; tfds source)")

    if "synthetic" in cases:
        synthetic = data.open_dataset("synthetic", cache_dir=cache)
        classes = range(len(synthetic.info.class_names))
        rate = images_per_second(synthetic.train(classes, 256, 32, seed=0), 256, args.seconds)
        print(f"synthetic: {rate:.0f} images/s (batch 256, 32 px -> 36 -> crop 32, mirror)")
    print(f"cpu cores usable: {cores} of {os.cpu_count()}")


if __name__ == "__main__":
    main()
