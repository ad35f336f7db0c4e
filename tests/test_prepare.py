"""keras_transfer.prepare: a folder tree becomes a TFDS dataset the tfds: source reads as it is."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from keras_transfer import data, prepare

COLOURS = {"a_red": (255, 0, 0), "b_green": (0, 255, 0), "c_blue": (0, 0, 255)}
SIZES = [(57, 31), (300, 200), (41, 77), (128, 96)]  # odd sizes; the third one is a PNG


def _image(colour, size, seed):
    """The class colour over a ramp and stripes 9 px apart, which a resize other than the
    pipeline's (antialiased, nearest) renders visibly differently."""
    w, h = size
    ramp = np.add.outer(np.linspace(0, 60, h), 30 * np.sin(np.arange(w) * 2 * np.pi / 9))[..., None]
    shift = np.random.default_rng(seed).uniform(0, 40)
    return np.clip(np.array(colour) * 0.7 + ramp + shift, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """train/ 4 and val/ 2 images per class, plus a non-image and a JPEG with a corrupt body."""
    root = tmp_path_factory.mktemp("prep") / "Tiny-Tree"
    for c, (name, colour) in enumerate(COLOURS.items()):
        for split, n in (("train", 4), ("val", 2)):
            (root / split / name).mkdir(parents=True)
            for j in range(n):
                fmt = "PNG" if j == 2 else "JPEG"
                Image.fromarray(_image(colour, SIZES[j], 10 * c + j)).save(
                    root / split / name / f"img{j}.{fmt.lower()}", fmt, quality=95)
    (root / "train" / "b_green" / "broken.jpg").write_bytes(b"not an image")  # listing scan
    body = bytearray((root / "train" / "a_red" / "img1.jpeg").read_bytes())
    body[400:-10] = np.random.default_rng(0).bytes(len(body) - 410)  # head and tail intact
    (root / "train" / "a_red" / "z_corrupt.jpeg").write_bytes(bytes(body))
    return root


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    return prepare.prepare(str(tree), str(tmp_path_factory.mktemp("out")), size=64,
                           max_bad_fraction=0.2)


def _all(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_prepared_dataset_opens_as_tfds_with_the_folder_sources_crops(tree, prepared):
    assert prepared.spec == "tfds:tiny_tree_64" and not prepared.reused
    assert prepared.skipped == {"train/b_green/broken.jpg": "not a decodable image (listing scan)",
                                "train/a_red/z_corrupt.jpeg": "failed to decode"}
    assert prepared.counts == {"train": [4, 4, 4], "validation": [2, 2, 2]}
    source = data.open_dataset(prepared.spec, data_dir=prepared.data_dir)
    assert source.info.class_names == tuple(COLOURS)
    assert source.info.train_counts == (4, 4, 4) and source.eval_size([0, 1, 2]) == 6

    # evaluation: the same centre crops as the folder source, up to JPEG re-encoding
    folder = data.open_dataset(f"folder:{tree}", max_bad_fraction=0.2)
    x, y = _all(source.eval([0, 1, 2], 4, 57))  # resize_size(57) == 64, the prepared size
    fx, fy = _all(folder.eval([0, 1, 2], 4, 57))
    assert x.shape == (6, 57, 57, 3) and list(y) == list(fy) == [0, 0, 1, 1, 2, 2]
    error = np.abs((x + source.info.mean) - (fx + folder.info.mean))
    assert error.mean() < 2.5 and error.max() < 40  # 1.5 here; antialiased 6.4, nearest 3.4
    np.testing.assert_allclose(source.info.mean, folder.info.mean, atol=1.5)

    # training: a known image maps to its class (its dominant channel), on a subset of classes
    x, y = next(iter(source.train([0, 2], 8, 57, seed=0)))
    assert x.shape == (8, 57, 57, 3) and sorted(set(y.numpy())) == [0, 1]
    channel = np.argmax((x.numpy() + source.info.mean).mean(axis=(1, 2)), axis=1)
    assert list(channel) == [(0, 2)[label] for label in y.numpy()]


def test_running_again_writes_nothing(tree, prepared):
    files = {f: os.stat(os.path.join(prepared.path, f)).st_mtime_ns
             for f in os.listdir(prepared.path)}
    again = prepare.prepare(str(tree), prepared.data_dir, size=64, max_bad_fraction=0.2)
    assert again.reused and again.counts == prepared.counts and again.skipped == prepared.skipped
    assert {f: os.stat(os.path.join(prepared.path, f)).st_mtime_ns
            for f in os.listdir(prepared.path)} == files
    assert os.listdir(os.path.dirname(prepared.path)) == ["1.0.0"]
    with pytest.raises(ValueError, match="already holds a finished dataset with {'size': 64"):
        prepare.prepare(str(tree), prepared.data_dir, name="tiny_tree_64", size=128)

    # the command: flags only when run as one, and the spec to train with
    from absl import flags
    assert "quality" not in flags.FLAGS  # prepare.py defines its flags only as a command
    out = subprocess.run([sys.executable, "-m", "keras_transfer.prepare", f"--dataset=folder:{tree}",
                          f"--out={prepared.data_dir}", "--size=64"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"--dataset=tfds:tiny_tree_64 --data_dir={prepared.data_dir}" in out.stdout


def test_a_killed_run_leaves_no_dataset_and_resumes(tree, tmp_path, monkeypatch):
    calls, write = [], prepare._write_shard

    def dies_on_the_third(*args):
        calls.append(args[1])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return write(*args)

    monkeypatch.setattr(prepare, "_write_shard", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare(str(tree), str(tmp_path), name="resumed", size=64, shards=3, workers=1,
                        max_bad_fraction=0.2)
    assert os.listdir(tmp_path / "resumed") == ["incomplete.1.0.0"]
    with pytest.raises(data.DataError, match="cannot open TFDS dataset 'resumed'"):
        data.open_dataset("tfds:resumed", data_dir=str(tmp_path))
    shards = {f"resumed-train.tfrecord-0000{i}-of-00003" for i in range(3)} | {
        f"resumed-validation.tfrecord-0000{i}-of-00002" for i in range(2)}
    kept = set(os.listdir(tmp_path / "resumed" / "incomplete.1.0.0")) & shards
    assert {f"resumed-train.tfrecord-0000{i}-of-00003" for i in (0, 1)} <= kept  # work kept

    calls.clear()
    monkeypatch.setattr(prepare, "_write_shard", lambda *a: calls.append(a[1]) or write(*a))
    done = prepare.prepare(str(tree), str(tmp_path), name="resumed", size=64, shards=3,
                           workers=1, max_bad_fraction=0.2)
    assert {os.path.basename(c) for c in calls} == shards - kept  # only the missing ones
    assert done.counts == {"train": [4, 4, 4], "validation": [2, 2, 2]}
    source = data.open_dataset(done.spec, data_dir=done.data_dir)
    assert source.info.train_counts == (4, 4, 4)
    assert {f for f in os.listdir(done.path) if "-of-" in f} == shards


def test_user_errors(tree, tmp_path):
    with pytest.raises(data.DataError, match="nowhere is not a directory"):
        prepare.prepare(str(tmp_path / "nowhere"), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="'imagenet2012' is a dataset TFDS itself defines"):
        prepare.prepare(str(tree), str(tmp_path / "out"), name="imagenet2012")
    with pytest.raises(ValueError, match="not a TFDS dataset name"):
        prepare.prepare(str(tree), str(tmp_path / "out"), name="Bad-Name")
    (tmp_path / "empty" / "train" / "x").mkdir(parents=True)
    (tmp_path / "empty" / "val" / "x").mkdir(parents=True)
    with pytest.raises(data.DataError, match="empty/train/x holds no images"):
        prepare.prepare(str(tmp_path / "empty"), str(tmp_path / "out"))
    with pytest.raises(data.DataError, match="more than max_bad_fraction"):
        prepare.prepare(str(tree), str(tmp_path / "out"), name="strict", size=64,
                        max_bad_fraction=0.06)
