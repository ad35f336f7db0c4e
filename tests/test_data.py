import logging
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from keras_transfer import data
from keras_transfer.data import pipeline, synthetic

from images import write_broken_images

COLOURS = {"a_red": (255, 0, 0), "b_green": (0, 255, 0), "c_blue": (0, 0, 255),
           "d_yellow": (255, 255, 0)}


@pytest.fixture(scope="session")
def synthetic_source(tmp_path_factory):
    cache = str(tmp_path_factory.getbasetemp() / "cache")  # the cache conftest points tests at
    return data.open_dataset("synthetic", cache_dir=cache), synthetic.load(cache_dir=cache)


def _save(path, colour, fmt="JPEG", size=(40, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).convert(mode).save(path, fmt, quality=95)


@pytest.fixture
def colour_tree(tmp_path):
    """train/ 5 and val/ 2 solid-colour JPEGs per class."""
    for name, colour in COLOURS.items():
        for split, n in (("train", 5), ("val", 2)):
            for j in range(n):
                _save(tmp_path / "tree" / split / name / f"img{j}.JPEG", colour)
    return tmp_path / "tree"


def _all(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def _colours(images, mean):
    """The colour of each solid image after adding the mean back."""
    return np.round(images.mean(axis=(1, 2)) + np.array(mean)).astype(int)


def test_folder_relabels_each_half_and_computes_the_mean(colour_tree):
    source = data.open_dataset(f"folder:{colour_tree}")
    info = source.info
    assert info.class_names == tuple(COLOURS) and info.train_counts == (5, 5, 5, 5)
    np.testing.assert_allclose(info.mean, (127.5, 127.5, 63.75), atol=1.5)
    for classes in ([1, 3], [0, 2], [0, 1, 2, 3]):
        x, y = _all(source.eval(classes, 3, 16))
        assert x.shape == (2 * len(classes), 16, 16, 3)
        assert x.dtype == np.float32 and y.dtype == np.int32
        expected = [COLOURS[info.class_names[classes[label]]] for label in y]
        np.testing.assert_allclose(_colours(x, info.mean), expected, atol=3)
        assert sorted(set(y)) == list(range(len(classes)))
    assert source.eval_size([1, 3]) == 4
    x, y = next(iter(source.train([1, 3], 6, 16, seed=0)))
    assert x.shape == (6, 16, 16, 3) and y.shape == (6,) and y.dtype == tf.int32
    expected = [COLOURS[("b_green", "d_yellow")[label]] for label in y.numpy()]
    np.testing.assert_allclose(_colours(x.numpy(), info.mean), expected, atol=3)
    assert data.open_dataset(f"folder:{colour_tree}").info.fingerprint == info.fingerprint


@pytest.fixture
def broken_tree(colour_tree):
    """Adds to the colour tree 3 files the listing scan rejects, 3 odd but decodable ones and
    one whose header is corrupt, which only decoding finds (in val/a_red)."""
    write_broken_images(colour_tree / "train" / "a_red", colour_tree / "val" / "a_red",
                        bad_header="bad_header.JPEG")
    return colour_tree


def test_broken_files_are_skipped_counted_and_logged(broken_tree, caplog, capfd):
    with caplog.at_level(logging.WARNING, logger="keras_transfer.data"):
        source = data.open_dataset(f"folder:{broken_tree}", max_bad_fraction=0.2)
    assert "skipping 3 of 35 files" in caplog.text
    for name in ("empty.JPEG: empty file", "text.JPEG: not an image",
                 "truncated.JPEG: truncated JPEG"):
        assert name in caplog.text
    assert source.info.train_counts == (5, 5, 5, 5)
    assert source.eval_size([0]) == 6
    x, y = _all(source.eval([0], 8, 16))  # bad_header.JPEG is dropped while decoding, and reported
    assert "dropped an image that failed to decode; 1 dropped so far" in capfd.readouterr().err
    colours = _colours(x, source.info.mean)
    assert list(y) == [0] * 5
    # Sorted names: cmyk, gray, img0, img1, png_named; grayscale red is luma 76.
    np.testing.assert_allclose(colours[[0, 2, 3, 4]], [(255, 0, 0)] * 4, atol=4)
    np.testing.assert_allclose(colours[1], (76, 76, 76), atol=3)
    with pytest.raises(data.DataError, match="3 of 35 files .* not decodable .*max_bad_fraction"):
        data.open_dataset(f"folder:{broken_tree}", max_bad_fraction=0.05)


@pytest.fixture
def numbered_tree(tmp_path):
    """3 classes x 6 training PNGs, each a distinct solid colour (40 * class, 40 * index, 128)."""
    for c in range(3):
        for j in range(6):
            path = tmp_path / "t" / "train" / f"class{c}" / f"img{j}.png"
            _save(path, (40 * c, 40 * j, 128), "PNG")
        _save(tmp_path / "t" / "val" / f"class{c}" / "img0.png", (40 * c, 0, 128), "PNG")
    return tmp_path / "t"


def _train_ids(source, classes, per_class, seed=0, batches=1):
    """(class, image index) of each training image, decoded from its colour."""
    ds = source.train(classes, per_class * len(classes), 8, seed=seed, per_class=per_class)
    out = []
    for x, y in ds.take(batches):
        rgb = _colours(x.numpy(), source.info.mean)
        out += [(classes[label], int(round(g / 40))) for label, g in zip(y.numpy(), rgb[:, 1])]
        assert all(r == 40 * classes[label] for label, r in zip(y.numpy(), rgb[:, 0]))
    return out


def test_per_class_keeps_the_first_k_in_file_order_and_nests(numbered_tree):
    source = data.open_dataset(f"folder:{numbered_tree}")
    two = _train_ids(source, [0, 2], 2)
    assert sorted(two) == [(0, 0), (0, 1), (2, 0), (2, 1)]  # one batch = one epoch
    three = _train_ids(source, [0, 2], 3, batches=2)
    assert set(three) == {(c, j) for c in (0, 2) for j in range(3)} >= set(two)
    first = _train_ids(source, [0, 2], 3, seed=5, batches=4)
    assert first == _train_ids(source, [0, 2], 3, seed=5, batches=4)
    with pytest.raises(data.DataError, match="per_class=7 .* fewer"):
        source.train([0, 1], 4, 8, seed=0, per_class=7)


def test_eval_centre_crop_is_deterministic_and_matches_serving(synthetic_source):
    source, raw = synthetic_source
    x1, y1 = _all(source.eval([3, 25], 64, 32))
    x2, _ = _all(source.eval([3, 25], 64, 32))
    np.testing.assert_array_equal(x1, x2)
    assert list(y1) == [0] * 50 + [1] * 50 and x1.shape == (100, 32, 32, 3)
    for label, c in enumerate((3, 25)):  # a known image maps to its label within the half
        images = raw.val_images[raw.val_labels == c]
        expected = data.serving_preprocess(images, 32, source.info.mean)
        np.testing.assert_allclose(x1[y1 == label], expected, atol=1e-4)


def test_synthetic_train_batches(synthetic_source):
    source, raw = synthetic_source
    assert source.info.fingerprint == raw.fingerprint and source.info.families == raw.families
    np.testing.assert_allclose(source.info.mean, raw.train_images.mean(axis=(0, 1, 2)), atol=1e-3)
    assert data.resize_size(227) == 256 and data.resize_size(32) == 36
    batches = list(source.train([3, 25], 16, 32, seed=1).take(3))
    for x, y in batches:
        assert x.shape == (16, 32, 32, 3) and x.dtype == tf.float32 and y.dtype == tf.int32
        assert set(y.numpy()) <= {0, 1}
    again = list(source.train([3, 25], 16, 32, seed=1).take(3))
    np.testing.assert_array_equal(batches[2][0], again[2][0])  # seeded: same crops, same order
    other = next(iter(source.train([3, 25], 16, 32, seed=2)))
    assert not np.array_equal(batches[0][0], other[0])


def test_resumed_train_stream_continues_the_uninterrupted_one(synthetic_source):
    source, _ = synthetic_source
    whole = list(source.train([3, 25], 16, 32, seed=1).take(42))  # 520 images an epoch
    resumed = list(source.train([3, 25], 16, 32, seed=1, start_batch=40).take(2))  # epoch 1
    for (x, y), (x2, y2) in zip(whole[40:], resumed):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)


def test_train_order_depends_on_its_seed_not_on_the_global_seed(numbered_tree):
    # Every net's init sets the global seed before its stream is built; seed 0 once crashed it.
    source = data.open_dataset(f"folder:{numbered_tree}")
    orders = []
    for global_seed in (0, 7, 123):
        tf.random.set_seed(global_seed)
        orders.append(_train_ids(source, [0, 2], 3, seed=5, batches=4))
    assert orders[0] == orders[1] == orders[2]
    assert sorted(orders[0][:6]) == [(c, j) for c in (0, 2) for j in range(3)]  # one epoch
    assert orders[0] != _train_ids(source, [0, 2], 3, seed=6, batches=4)


class TinyColours(tfds.core.GeneratorBasedBuilder):
    """A real TFDS builder, registered as "tiny_colours", prepared offline from solid colours."""

    VERSION = tfds.core.Version("1.0.0")
    pkg_dir_path = epath.Path(__file__).parent  # tests/ is not a package, so TFDS cannot infer it

    def _info(self):
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=list(COLOURS))}))

    def _split_generators(self, dl_manager):
        # tfds.Split names, as imagenet2012's builder uses: they print as Split('train').
        return {tfds.Split.TRAIN: self._generate_examples(4),
                tfds.Split.VALIDATION: self._generate_examples(2)}

    def _generate_examples(self, n):
        for c, colour in enumerate(COLOURS.values()):
            for j in range(n):
                yield f"{c}-{j}", {"image": np.full((30, 40, 3), colour, np.uint8), "label": c}


def test_tfds_source_relabels_each_half(tmp_path):
    source = data.open_dataset("tfds:tiny_colours", data_dir=str(tmp_path / "tfds"))
    info = source.info
    # Prepared by this first open (its split names are tfds.Split objects), then read back
    # from disk (plain strings): the identity must not change, or every rerun would refuse
    # the finished runs as "another config".
    again = data.open_dataset("tfds:tiny_colours", data_dir=str(tmp_path / "tfds"))
    assert again.info.fingerprint == info.fingerprint
    assert info.class_names == tuple(COLOURS) and info.train_counts == (4, 4, 4, 4)
    np.testing.assert_allclose(info.mean, (127.5, 127.5, 63.75), atol=0.01)
    assert source.eval_size([1, 3]) == 4
    for classes in ([1, 3], [0, 2]):
        x, y = _all(source.eval(classes, 3, 16))
        assert sorted(y) == [0, 0, 1, 1]
        expected = [COLOURS[info.class_names[classes[label]]] for label in y]
        np.testing.assert_allclose(_colours(x, info.mean), expected, atol=1)
    x, y = next(iter(source.train([1, 3], 4, 16, seed=0, per_class=1)))
    assert sorted(y.numpy()) == [0, 0, 1, 1]  # per_class=1 over 2 classes: each batch, 2 epochs


def test_tfds_imagefolder(colour_tree):
    source = data.open_dataset(f"tfds:imagefolder:{colour_tree}")
    assert source.info.class_names == tuple(COLOURS) and source.eval_size([0, 1, 2, 3]) == 8
    x, y = _all(source.eval([2], 8, 16))
    np.testing.assert_allclose(_colours(x, source.info.mean), [COLOURS["c_blue"]] * 2, atol=3)


@pytest.mark.parametrize("damage, match", [
    (lambda t: (t / "val" / "e_extra").mkdir(), r"val has classes \['e_extra'\]"),
    (lambda t: [p.unlink() for p in (t / "val" / "b_green").iterdir()], "b_green holds no images"),
    (lambda t: shutil.rmtree(t / "val" / "b_green"), "val/b_green is missing"),
    (lambda t: shutil.rmtree(t / "val"), "val is not a directory"),
])
def test_folder_tree_errors(colour_tree, damage, match):
    damage(colour_tree)
    with pytest.raises(data.DataError, match=match):
        data.open_dataset(f"folder:{colour_tree}")


def test_bad_specs(tmp_path):
    with pytest.raises(data.DataError, match="unknown data source 'imagenet'"):
        data.open_dataset("imagenet")
    with pytest.raises(data.DataError, match="nowhere/train is not a directory"):
        data.open_dataset(f"folder:{tmp_path}/nowhere")
    with pytest.raises(data.DataError, match="cannot open TFDS dataset 'no_such_dataset'"):
        data.open_dataset("tfds:no_such_dataset", data_dir=str(tmp_path))


def test_small_evaluation_sets_are_cached_without_autotuning(monkeypatch):
    """The embedded default's evaluation set stays in memory, without the autotuning thread
    whose teardown stalled every evaluation; a large one (ImageNet's) is read every time."""
    source = data.open_dataset("synthetic")
    cached = source.eval([0, 1], 64, 32)
    assert cached.options().autotune.enabled is False
    monkeypatch.setattr(pipeline, "_EVAL_CACHE_BYTES", 0)
    streamed = source.eval([0, 1], 64, 32)
    assert streamed.options().autotune.enabled is not False

    def images(ds):
        batches = [(x.numpy(), y.numpy()) for x, y in ds]
        return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])

    first, labels = images(cached)
    assert len(labels) == source.eval_size([0, 1]) and set(labels) == {0, 1}
    for ds in (cached, streamed):  # the cached second pass and a streamed one: same batches
        again, again_labels = images(ds)
        np.testing.assert_array_equal(again, first)
        np.testing.assert_array_equal(again_labels, labels)
