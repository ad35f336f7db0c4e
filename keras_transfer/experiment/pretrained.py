"""A user's pretrained model as the source of a sweep (`--pretrained=PATH`: a .keras file, a
.weights.h5 file or a SavedModel directory of a --model net; nets.pretrained_files reads them).

The model plays base A: it is not trained, but installed as the finished parent `baseA` of
every replicate (runs/r<i>/baseA: its model.keras, a manifest naming the file and its sha256,
and result.json with status "imported"; no results row, since its accuracy on its own data is
not measured here). Every class of --dataset is the target, half B of the split "pretrained";
the sweep trains the target side: baseB from scratch (the baseline), the selffers BnB, BnB+
(the co-adaptation control on the target) and the transfers AnB, AnB+ and the adaptation kinds
over the cut points. Replicates vary the target-side nets' inits and data orders; the source
is the same file in all of them.
"""

import os

from keras_transfer import catalog, files
from keras_transfer.data import splits
from keras_transfer.experiment import rundir
from keras_transfer.experiment.config import architecture
from keras_transfer.nets import backbones, pretrained_files, transfer

SPLIT = catalog.PRETRAINED_SPLIT  # half A empty (the source's), half B every class


class PretrainedError(ValueError):
    """A --pretrained that cannot be used: the message names the file and what to do."""


def fingerprint(path, model=None):
    """sha256 of the source file (of a SavedModel directory's files; of the ImageNet trunk's
    weights of --model `model` for "imagenet"), with one clear error when it is missing, a
    directory that is not a SavedModel, or ImageNet weights --model does not have."""
    if path == catalog.IMAGENET_PRETRAINED:
        return imagenet_fingerprint(model)
    if not os.path.exists(path):
        raise PretrainedError(f"--pretrained={path}: no such file. Give a Keras model saved "
                              "with model.save('name.keras'), "
                              "model.save_weights('name.weights.h5') or model.export('dir') "
                              "(e.g. a base net's runs/r0/baseA/model.keras)")
    if os.path.isdir(path):
        try:
            pretrained_files.check_saved_model_dir(path)
        except pretrained_files.PretrainedFileError as e:
            raise PretrainedError(f"--pretrained={path}: {e}") from None
    return files.file_sha256(path)


def imagenet_fingerprint(model):
    if model not in catalog.IMAGENET_MODELS:
        raise PretrainedError(f"--pretrained=imagenet: --model={model} has no ImageNet "
                              f"weights; choose one of {', '.join(catalog.IMAGENET_MODELS)}, or "
                              "give --pretrained=PATH")
    try:
        net = pretrained_files.imagenet(lambda width: backbones.architecture(model, width))
    except pretrained_files.PretrainedFileError as e:
        raise PretrainedError(f"--pretrained=imagenet: {e}") from None
    # The trunk only: the classifier is fresh (its init is not the source's).
    return "imagenet-" + transfer.weights_checksum(net, backbones.num_cuts(net) - 1)


def split(class_names):
    """Every class of the dataset as the target half B."""
    return splits.Split(SPLIT, None, (), tuple(range(len(class_names))))


def target_side(nets):
    """The nets a source sweep trains: none with target A, no baseA (the source is base A)."""
    return [net for net in nets if net.target != "A" and net.name != "baseA"]


def load(config):
    """The source model as a --model net, or a PretrainedError saying why it cannot be read."""
    try:
        return pretrained_files.read(config.pretrained, lambda width: architecture(config, width))
    except pretrained_files.PretrainedFileError as e:
        raise PretrainedError(f"--pretrained={config.pretrained}: {e}") from None


def install(ctx):
    """Installs the source (read and checked by `check`: ctx.pretrained_model) as baseA of each
    replicate; an installed copy of the same file is kept."""
    config = ctx.config
    model = sha = None
    for replicate in range(config.replicates):
        run_dir = rundir.run_dir_of(config.workdir, f"r{replicate}/baseA")
        result = files.read_json(os.path.join(run_dir, rundir.RESULT))
        if result and result.get("pretrained_sha256") == config.pretrained_sha256:
            continue
        if model is None:  # once, for every replicate that lacks it
            model = ctx.pretrained_model
            sha = transfer.weights_checksum(model)
        os.makedirs(run_dir, exist_ok=True)
        model.save(os.path.join(run_dir, rundir.MODEL))
        files.write_json(os.path.join(run_dir, rundir.MANIFEST), {
            "imported_from": ("keras.applications ImageNet weights"
                              if config.pretrained == catalog.IMAGENET_PRETRAINED
                              else os.path.abspath(config.pretrained)),
            "pretrained_sha256": config.pretrained_sha256, "weights_sha256": sha,
            **rundir.environment()})
        files.write_json(os.path.join(run_dir, rundir.RESULT), {  # last: "installed"
            "net": "baseA", "kind": "base", "status": rundir.IMPORTED, "replicate": replicate,
            "run_dir": os.path.relpath(run_dir, config.workdir), "weights_sha256": sha,
            "pretrained_sha256": config.pretrained_sha256})


def check(config, split):
    """Loads the source and copies every block but the classifier into a target net of
    --model, before the workdir is bound or anything trains: a source that cannot be read, or
    of another architecture, fails here (naming its first mismatching layer). Returns the
    loaded model."""
    model = load(config)
    target = backbones.build(architecture(config, len(split.half("B"))))
    try:
        transfer.copy_blocks(model, target, backbones.num_cuts(target) - 1)
    except transfer.TransferError as e:
        raise PretrainedError(f"--pretrained={config.pretrained} does not fit "
                              f"--model={config.model}: {e}") from None
    return model
