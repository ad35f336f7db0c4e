"""What a trained net computes for a dataset's images, as NumPy: its features at cut points
(`features`) and its own head's class probabilities (`head_probabilities`), for the scores and
CKA of `diagnostics.cka` and `diagnostics.scores`."""

import keras
import numpy as np

from keras_transfer.nets import backbones, head


def extractor(model, ns):
    """A Keras model from `model`'s input to its features at each cut point of `ns` (one output
    per n, in order), a conv map averaged over its positions to one vector per image.

    The scores and CKA need one vector per image, and a conv map flattened is 10^4-10^5 numbers
    wide at 32 px and more at 227 px: larger than the examples they are estimated from, where
    H-score reads its maximum for any features. The average keeps each channel, as the
    classifier of every backbone but CaffeNet sees it (`head.global_pool`); fc layers are
    vectors already.
    """
    ns = list(ns)
    # The pooling layers are new; under a mixed policy they would average thousands of
    # positions in bfloat16 (three significant digits). The net's own layers keep the policy
    # they were saved with.
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        outputs = [head.global_pool(backbones.cut_tensor(model, n), f"features_at_{n}")
                   for n in ns]
    finally:
        keras.config.set_dtype_policy(policy)
    return keras.Model(model.input, outputs, name=f"{model.name}_features")


def features(model, ns, dataset):
    """({n: float64 features (images x width)}, int64 labels) of a finite dataset of (images,
    labels) batches, the features at each cut point of `ns` as `extractor` gives them."""
    ns = list(ns)
    net = extractor(model, ns)
    batches, labels = [[] for _ in ns], []
    for images, y in dataset:
        outputs = net(images, training=False)
        if len(ns) == 1:  # a Keras model of one output returns it bare, not in a list
            outputs = [outputs]
        for kept, output in zip(batches, outputs):
            kept.append(np.asarray(output, dtype=np.float64))
        labels.append(np.asarray(y, dtype=np.int64))
    if not labels:
        raise ValueError("the dataset holds no images, so there are no features to score")
    return ({n: np.concatenate(kept) for n, kept in zip(ns, batches)},
            np.concatenate(labels))


def head_probabilities(model, dataset):
    """(float64 probabilities (images x the net's classes), int64 labels): the net's own softmax
    on a finite dataset of (images, labels), what LEEP and NCE read."""
    probabilities, labels = [], []
    for images, y in dataset:
        probabilities.append(np.asarray(model(images, training=False), dtype=np.float64))
        labels.append(np.asarray(y, dtype=np.int64))
    if not labels:
        raise ValueError("the dataset holds no images, so the head has nothing to score")
    return np.concatenate(probabilities), np.concatenate(labels)
