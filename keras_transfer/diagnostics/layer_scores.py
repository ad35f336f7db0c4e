"""A trained net's transferability scores at each cut point, for one target: how well its
features at n suit the target's classes, read without training any transfer net.

The feature scores (LogME, H-score, shrinkage H-score) and the two cheap accuracies (k-NN and
a linear probe, both fitted on the target's training images and tested on its validation
images) depend on n; LEEP and NCE read the net's own head, so they are one number per net.
"""

import time

import numpy as np

from keras_transfer.diagnostics import features as F
from keras_transfer.diagnostics import scores

# The names of the per-n scores, in the order the tables show them.
LAYER_SCORES = ("logme", "h_score", "shrinkage_h_score", "knn", "linear_probe")
HEAD_SCORES = ("leep", "nce")
KNN_NEIGHBOURS = 20  # scores.knn_accuracy's default (Caron et al. 2021)


def score_layers(model, ns, train, test, progress=None):
    """[{"n", "logme", "h_score", "shrinkage_h_score", "knn", "linear_probe", "seconds"}], one
    per cut point of `ns`: `model`'s features at n on `train` (the target's training images),
    the k-NN and linear-probe accuracies tested on `test` (its validation images). Both are
    finite datasets of (images, labels). `progress(row)` is called as each n is done."""
    return score_extracted(ns, F.features(model, ns, train), F.features(model, ns, test),
                           progress)


def score_extracted(ns, train, test, progress=None):
    """`score_layers` of features already extracted: train and test are (features by n,
    labels) as `features.features` gives them, so a caller that needs them too extracts once."""
    (train_features, train_labels), (test_features, test_labels) = train, test
    rows = []
    for n in ns:
        start = time.time()
        row = {"n": n, **score_features(train_features[n], train_labels, test_features[n],
                                        test_labels)}
        row["seconds"] = round(time.time() - start, 3)
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows


def score_features(train_features, train_labels, test_features, test_labels):
    """The per-n scores of one layer's features: {name: value} for each of LAYER_SCORES."""
    return {
        "logme": scores.logme(train_features, train_labels),
        "h_score": scores.h_score(train_features, train_labels),
        "shrinkage_h_score": scores.shrinkage_h_score(train_features, train_labels),
        "knn": scores.knn_accuracy(train_features, train_labels, test_features, test_labels,
                                   k=min(KNN_NEIGHBOURS, len(train_labels))),
        "linear_probe": scores.linear_probe_accuracy(train_features, train_labels,
                                                     test_features, test_labels),
    }


def score_head(model, train):
    """{"leep", "nce"} of `model`'s own softmax head on `train` (the target's training images):
    how well its classes, soft (LEEP) or hard (NCE), predict the target's."""
    probabilities, labels = F.head_probabilities(model, train)
    return {"leep": scores.leep(probabilities, labels),
            "nce": scores.nce(np.argmax(probabilities, axis=1), labels)}
