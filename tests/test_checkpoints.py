"""Checkpoints are bound to their owner and checksummed: foreign or damaged state is set aside."""

import os

import numpy as np

from keras_transfer.nets import alexnet
from keras_transfer.training import checkpoints
from keras_transfer.training.recipe import TrainConfig, compile_model


def small_model():
    model = alexnet.build(alexnet.Architecture(num_classes=3, input_size=32, width=0.25,
                                               fc_units=16))
    compile_model(model, TrainConfig(steps=2, eval_every=1, batch_size=2), 3)
    model.optimizer.build(model.trainable_variables)
    return model


def save_interval(checkpointer, model, epoch):
    """What fit does at the end of a whole interval."""
    checkpointer.set_model(model)
    checkpointer.set_params({"steps": 1})
    checkpointer.on_epoch_begin(epoch)
    checkpointer.on_train_batch_end(0)
    checkpointer.on_epoch_end(epoch)


def test_only_the_owner_resumes_and_damage_is_detected(tmp_path):
    directory = str(tmp_path / "checkpoints")
    owner = {"net": "r0/A3B", "config_hash": "aaaa"}
    model = small_model()
    saved = [np.array(w) for w in model.get_weights()]
    save_interval(checkpoints.Checkpointer(directory, owner=owner), model, 0)
    save_interval(checkpoints.Checkpointer(directory, owner=owner), model, 1)
    assert sorted(os.listdir(directory)) == ["ckpt-000001.json", "ckpt-000001.weights.h5",
                                             "ckpt-000002.json", "ckpt-000002.weights.h5"]

    fresh = small_model()
    assert checkpoints.Checkpointer(directory, owner=owner).restore(fresh) == 2
    for a, b in zip(fresh.get_weights(), saved):
        np.testing.assert_array_equal(a, b)

    # Bytes changed inside the newest file (its HDF5 header intact): it falls back to the
    # one before, and the damaged file is set aside.
    newest = os.path.join(directory, "ckpt-000002.weights.h5")
    with open(newest, "r+b") as f:
        f.seek(os.path.getsize(newest) // 2)
        f.write(b"\x00garbage\x00")
    assert checkpoints.Checkpointer(directory, owner=owner).restore(small_model()) == 1
    assert "unreadable-ckpt-000002.weights.h5" in os.listdir(directory)

    # Another owner (a changed recipe) never continues this state: it starts at 0 and the
    # state is kept aside for inspection, so the next run does not trip over it again.
    other = {"net": "r0/A3B", "config_hash": "bbbb"}
    assert checkpoints.Checkpointer(directory, owner=other).restore(small_model()) == 0
    left = sorted(os.listdir(directory))
    assert "stale-ckpt-000001.weights.h5" in left and "stale-ckpt-000001.json" in left
    assert checkpoints.checkpoint_paths(directory) == []


def test_a_checkpoint_without_the_dropout_states_is_set_aside(tmp_path):
    """A net with dropout saves its seed-generator states in the checkpoint; a file without
    them (not one this version writes), its checksum intact, is set aside like a damaged one
    and the run starts from its own initialisation."""
    import h5py
    from keras_transfer import files
    directory = str(tmp_path / "checkpoints")
    owner = {"net": "r0/A3B", "config_hash": "aaaa"}
    model = small_model()
    assert checkpoints.rng_states(model)  # dropout 0.5 in fc6 and fc7
    save_interval(checkpoints.Checkpointer(directory, owner=owner), model, 0)
    path = os.path.join(directory, "ckpt-000001.weights.h5")
    with h5py.File(path, "a") as f:
        del f[checkpoints.RNG_KEY]
    files.write_json(path[:-len(".weights.h5")] + ".json",
                     {"owner": owner, "sha256": files.file_sha256(path)})
    fresh = small_model()
    initial = [np.array(w) for w in fresh.get_weights()]
    assert checkpoints.Checkpointer(directory, owner=owner).restore(fresh) == 0
    assert "unreadable-ckpt-000001.weights.h5" in os.listdir(directory)
    for a, b in zip(fresh.get_weights(), initial):
        np.testing.assert_array_equal(a, b)
