"""--train_per_class: every net of a sweep on the first k training images of each class, bound
into the recipe; the regime sample is drawn from exactly those images, un-augmented."""

import json

import numpy as np
import pytest

from keras_transfer import data
from keras_transfer.experiment import setup
from keras_transfer.experiment.config import SweepConfig, images_per_class, recipe_settings
from keras_transfer.experiment.plan import Net
from keras_transfer.training.recipe import TrainConfig

TINY = TrainConfig(steps=4, eval_every=2, batch_size=16, lr_step=1000)


def test_the_cap_is_bound_into_the_recipe_and_applies_to_unlimited_nets(tmp_path):
    config = SweepConfig(workdir=str(tmp_path / "w"), layers=(1,), recipe=TINY,
                         train_per_class=30)
    ctx = setup.prepare(config)
    assert json.loads((tmp_path / "w" / "sweep.json").read_text())["train_per_class"] == 30
    assert recipe_settings(config)["train_per_class"] == 30
    base = next(n for n in ctx.nets if n.name == "baseB")
    assert images_per_class(config, base) == 30
    assert images_per_class(config, Net("baseB@k10", "base", "B", per_class=10)) == 10
    # Without the flag nothing is recorded: workdirs from before it keep their binding.
    assert "train_per_class" not in recipe_settings(SweepConfig(workdir="x"))


@pytest.mark.parametrize("change, message", [
    ({"target_per_class": (10, 40)}, r"\[40\] exceed --train_per_class=30"),
    ({"train_per_class": 100_000}, "needs 100000 training images per class"),
])
def test_sizes_the_data_or_the_cap_cannot_give_are_refused_before_binding(tmp_path, change,
                                                                          message):
    settings = {"train_per_class": 30, **change}
    with pytest.raises(data.DataError, match=message):
        setup.prepare(SweepConfig(workdir=str(tmp_path / "w"), layers=(1,), recipe=TINY,
                                  **settings))
    assert not (tmp_path / "w" / "sweep.json").exists()


def test_the_regime_sample_is_the_first_training_images_un_augmented():
    source = data.open_dataset("synthetic")
    classes = [0, 1, 2, 3]
    sample = list(source.train_sample(classes, 64, 32, per_class=5, size=1024).as_numpy_iterator())
    images = np.concatenate([x for x, _ in sample])
    labels = np.concatenate([y for _, y in sample])
    # Capped by per_class: 5 of each of the 4 classes, labels renumbered 0..3.
    assert images.shape == (20, 32, 32, 3) and np.bincount(labels).tolist() == [5] * 4
    again = np.concatenate([x for x, _ in source.train_sample(classes, 7, 32, per_class=5)])
    np.testing.assert_array_equal(images, again)  # fixed: no augmentation, any batch size
    # Without a cap: ceil(size / classes) of each class.
    labels = np.concatenate([y for _, y in source.train_sample(classes, 64, 32, size=40)])
    assert np.bincount(labels).tolist() == [10] * 4
    # The same images the training stream draws from (its epoch is those 5 per class).
    train = source.train(classes, 20, 32, seed=0, per_class=5)
    _, y = next(iter(train))
    assert sorted(np.bincount(y.numpy(), minlength=4).tolist()) == [5] * 4
