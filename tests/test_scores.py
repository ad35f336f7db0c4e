"""Transferability scores on cases worked by hand or recomputed here the slow, obvious way."""

import math

import numpy as np
import pytest

from keras_transfer.diagnostics import scores


def blobs(seed, per_class, classes=3, d=5, spread=10.0):
    """Gaussian blobs around spread * e_c: classes in different directions, far apart."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    return spread * np.eye(d)[labels] + rng.normal(size=(len(labels), d)), labels


# check_labels

@pytest.mark.parametrize("labels, message", [
    ([0, 0, 1, 1, 1, 2], "class 2 has 1 image"),
    ([0, 0, 2, 2], "class 1 has 0 image"),  # a gap in the numbering is an empty class
    ([0, 1, 1, 2, 3, 3], r"class 0 has 1 image.*\(and 1 more classes below 2\)"),
    ([4, 4, 4], "at least 2 classes; every one of the 3 labels is 4"),
    ([0.0, 0.0, 1.0, 1.0], "integer classes"),
    ([-1, -1, 0, 0], "integer classes"),
])
def test_check_labels_names_the_class_and_its_count(labels, message):
    with pytest.raises(ValueError, match=message):
        scores.check_labels(labels)


def test_check_labels_accepts_two_per_class_and_honours_a_higher_minimum():
    assert scores.check_labels([1, 0, 1, 0]).tolist() == [1, 0, 1, 0]
    with pytest.raises(ValueError, match="class 0 has 2 image.*at least 3"):
        scores.check_labels([1, 0, 1, 0, 1], minimum=3)


@pytest.mark.parametrize("score", [
    lambda y: scores.logme(np.ones((len(y), 2)), y),
    lambda y: scores.leep(np.full((len(y), 2), 0.5), y),
    lambda y: scores.nce(np.zeros(len(y), dtype=int), y),
    lambda y: scores.h_score(np.ones((len(y), 2)), y),
    lambda y: scores.shrinkage_h_score(np.ones((len(y), 2)), y),
    lambda y: scores.knn_accuracy(np.ones((len(y), 2)), y, np.ones((1, 2)), [0], k=1),
    lambda y: scores.linear_probe_accuracy(np.ones((len(y), 2)), y, np.ones((1, 2)), [0]),
])
def test_every_score_checks_its_labels(score):
    with pytest.raises(ValueError, match="class 1 has 1 image"):
        score(np.array([0, 0, 1]))


# NCE and LEEP: the source head against the target labels

def test_nce_on_a_two_by_two_table_worked_by_hand():
    # Counts of (z, y) over 8 images: (0, 0) 3, (0, 1) 1, (1, 0) 1, (1, 1) 3. P(z) = 1/2 each and
    # P(y | z) is 3/4 vs 1/4 in both rows, so -H(Y | Z) = 3/4 ln(3/4) + 1/4 ln(1/4) = -0.562335.
    z = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    expected = 0.75 * math.log(0.75) + 0.25 * math.log(0.25)
    assert scores.nce(z, y) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(-0.562335, abs=1e-6)


def test_nce_is_zero_when_the_source_label_decides_the_target_and_minus_log_c_when_independent():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert scores.nce(np.array([5, 5, 0, 0, 3, 3]), y) == pytest.approx(0.0, abs=1e-12)
    # Two source classes that each split the two target classes evenly: H(Y | Z) = ln 2.
    assert scores.nce(np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])) == pytest.approx(
        -math.log(2), abs=1e-12)


def test_leep_is_zero_for_an_identity_head_on_aligned_labels():
    y = np.array([0, 1, 2, 0, 1, 2])
    assert scores.leep(np.eye(3)[y], y) == pytest.approx(0.0, abs=1e-12)
    # A fourth source class nobody uses (P(z) = 0) changes nothing.
    assert scores.leep(np.eye(4)[y], y) == pytest.approx(0.0, abs=1e-12)


def test_leep_on_a_two_class_case_worked_by_hand():
    # theta rows (0.8, 0.2), (0.6, 0.4) for y = 0 and (0.3, 0.7), (0.1, 0.9) for y = 1.
    # P(y, z) = [[1.4, 0.6], [0.4, 1.6]] / 4; P(z) = (0.45, 0.55);
    # P(y | z = 0) = (7/9, 2/9), P(y | z = 1) = (3/11, 8/11).
    # Image 1: 0.8 * 7/9 + 0.2 * 3/11 = 67/99; image 2: 0.6 * 7/9 + 0.4 * 3/11 = 57/99;
    # image 3: 0.3 * 2/9 + 0.7 * 8/11 = 57/99; image 4: 0.1 * 2/9 + 0.9 * 8/11 = 67/99.
    theta = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    expected = (math.log(67 / 99) + math.log(57 / 99)) / 2
    assert scores.leep(theta, np.array([0, 0, 1, 1])) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(-0.471248, abs=1e-6)


def test_leep_refuses_logits():
    with pytest.raises(ValueError, match="apply a softmax"):
        scores.leep(np.array([[2.0, -1.0], [0.5, 0.5], [1.0, 3.0], [0.0, 1.0]]), [0, 0, 1, 1])


# H-score and its shrinkage version

def test_h_score_in_one_dimension_is_between_class_over_total_variance():
    # f = (0, 2, 4, 6), y = (0, 0, 1, 1): mean 3, total variance (9 + 1 + 1 + 9)/4 = 5; class
    # means 1 and 5, between-class variance (4 + 4)/2 = 4; H = 4/5. In one dimension Ledoit-Wolf
    # has nothing to shrink toward (S is already mu I), so the shrinkage version agrees.
    f, y = np.array([[0.0], [2.0], [4.0], [6.0]]), np.array([0, 0, 1, 1])
    assert scores.h_score(f, y) == pytest.approx(0.8, abs=1e-12)
    assert scores.ledoit_wolf(f)[1] == 0.0
    assert scores.shrinkage_h_score(f, y) == pytest.approx(0.8, abs=1e-12)


def test_ledoit_wolf_matches_the_per_sample_formula_of_the_paper():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(15, 6)) * [1, 1, 2, 3, 0.5, 1] + 4.0
    centred = x - x.mean(axis=0)
    n, d = x.shape
    sample = centred.T @ centred / n
    mu = np.trace(sample) / d
    d2 = np.sum((sample - mu * np.eye(d)) ** 2) / d
    b2 = sum(np.sum((np.outer(row, row) - sample) ** 2) for row in centred) / (n ** 2 * d)
    expected_shrinkage = min(b2, d2) / d2
    covariance, shrinkage = scores.ledoit_wolf(x)
    assert 0.05 < shrinkage < 0.95
    assert shrinkage == pytest.approx(expected_shrinkage, abs=1e-12)
    expected = (1 - expected_shrinkage) * sample + expected_shrinkage * mu * np.eye(d)
    np.testing.assert_allclose(covariance, expected, atol=1e-12)


def test_shrinkage_h_score_is_h_score_with_a_ridge_and_close_to_it_when_n_is_large():
    # tr(((1 - a) S + a mu I)^-1 (1 - a) Sb) = tr((S + c I)^-1 Sb) with c = a mu / (1 - a):
    # never above H, and with 3000 images in 5 dimensions (a = 0.002) within 1 % of it.
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 1000)
    f = rng.normal(size=(3000, 5)) * [1, 3, 1, 1, 1]
    f[:, 0] += y
    _, a = scores.ledoit_wolf(f)
    centred = f - f.mean(axis=0)
    sample = centred.T @ centred / len(f)
    means = np.stack([centred[y == c].mean(axis=0) for c in range(3)])
    between = means.T @ means / 3  # equal class sizes
    ridge = a * np.trace(sample) / 5 / (1 - a)
    expected = np.trace(np.linalg.inv(sample + ridge * np.eye(5)) @ between)
    plain, shrunk = scores.h_score(f, y), scores.shrinkage_h_score(f, y)
    assert 0.0 < a < 0.01
    assert shrunk == pytest.approx(expected, abs=1e-12)
    assert plain == pytest.approx(np.trace(np.linalg.inv(sample) @ between), abs=1e-12)
    assert shrunk < plain and (plain - shrunk) / plain < 0.01


def test_shrinkage_h_score_still_ranks_features_when_dimensions_outnumber_images():
    # 20 images, 100 dimensions: the centred features span every direction, so plain H-score
    # reads C - 1 = 1 for noise and for separable features alike. Observed shrinkage H-scores:
    # 0.338 for noise and 0.521 with one dimension shifted by 4 between the classes.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 10)
    noise = rng.normal(size=(20, 100))
    separable = noise.copy()
    separable[:, 0] += 4.0 * y
    assert scores.h_score(noise, y) == pytest.approx(1.0, abs=1e-6)
    assert scores.h_score(separable, y) == pytest.approx(1.0, abs=1e-6)
    noise_score = scores.shrinkage_h_score(noise, y)
    separable_score = scores.shrinkage_h_score(separable, y)
    assert np.isfinite(noise_score) and np.isfinite(separable_score)
    assert noise_score == pytest.approx(0.338, abs=1e-3)
    assert separable_score == pytest.approx(0.521, abs=1e-3)


# LogME

def naive_logme(f, y):
    """LogME with explicit d x d inverses and determinants, mirroring the fixed-point steps."""
    n, d = f.shape
    gram, evidences, fixed_points = f.T @ f, [], []
    for c in range(y.max() + 1):
        target = (y == c).astype(float)
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            a_inverse = np.linalg.inv(alpha * np.eye(d) + beta * gram)
            m = beta * a_inverse @ f.T @ target
            gamma = np.trace(beta * gram @ a_inverse)
            m2, res2 = m @ m, np.sum((f @ m - target) ** 2)
            previous = alpha / beta
            alpha, beta = gamma / (m2 + 1e-5), (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - previous) / previous <= 1e-3:
                break
        log_det = np.linalg.slogdet(alpha * np.eye(d) + beta * gram)[1]
        evidences.append(d / 2 * np.log(alpha) + n / 2 * np.log(beta) - log_det / 2
                         - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * np.log(2 * np.pi))
        fixed_points.append((alpha, beta))
    return np.mean(evidences) / n, fixed_points


def evidence_at(f, target, alpha, beta):
    """Log evidence of one target at given alpha, beta (its own posterior mean), explicitly."""
    n, d = f.shape
    a_matrix = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a_matrix, f.T @ target)
    return (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - np.linalg.slogdet(a_matrix)[1] / 2
            - beta / 2 * np.sum((f @ m - target) ** 2) - alpha / 2 * m @ m
            - n / 2 * np.log(2 * np.pi))


@pytest.mark.parametrize("n, d", [(30, 5), (12, 20)])  # more images than dimensions, and fewer
def test_logme_matches_explicit_inverses_and_determinants(n, d):
    rng = np.random.default_rng(n)
    y = np.arange(n) % 3
    f = rng.normal(size=(n, d)) + np.eye(d)[y]
    expected, _ = naive_logme(f, y)
    assert scores.logme(f, y) == pytest.approx(expected, abs=1e-9)


def test_logme_fixed_point_is_a_maximum_of_the_evidence():
    rng = np.random.default_rng(3)
    y = np.arange(40) % 2
    f = rng.normal(size=(40, 6)) + 2.0 * np.eye(6)[y]
    _, fixed_points = naive_logme(f, y)
    target = (y == 0).astype(float)
    alpha, beta = fixed_points[0]
    best = evidence_at(f, target, alpha, beta)
    for factor_alpha, factor_beta in [(2, 1), (0.5, 1), (1, 2), (1, 0.5)]:
        assert evidence_at(f, target, alpha * factor_alpha, beta * factor_beta) < best


def test_logme_prefers_features_that_separate_the_classes():
    # Observed: -0.869 for noise, -0.253 with a one-hot class code of size 3 added.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    noise = rng.normal(size=(60, 8))
    separable = noise.copy()
    separable[:, :3] += 3.0 * np.eye(3)[y]
    assert scores.logme(noise, y) == pytest.approx(-0.869, abs=1e-3)
    assert scores.logme(separable, y) == pytest.approx(-0.253, abs=1e-3)


# k-NN and the linear probe

def test_knn_and_linear_probe_are_perfect_on_well_separated_blobs():
    train, train_y = blobs(1, per_class=30)
    test, test_y = blobs(2, per_class=20)
    assert scores.knn_accuracy(train, train_y, test, test_y, k=5) == 1.0
    assert scores.linear_probe_accuracy(train, train_y, test, test_y) == 1.0


def test_knn_and_linear_probe_are_near_chance_on_random_labels():
    # 200 test images, 2 classes: chance is 0.5 with standard deviation 0.035; observed 0.505
    # (k-NN) and 0.535 (probe). The band is about 4 standard deviations.
    rng = np.random.default_rng(2)
    train, train_y = rng.normal(size=(200, 5)), rng.integers(0, 2, 200)
    test, test_y = rng.normal(size=(200, 5)), rng.integers(0, 2, 200)
    assert 0.35 < scores.knn_accuracy(train, train_y, test, test_y, k=5) < 0.65
    assert 0.35 < scores.linear_probe_accuracy(train, train_y, test, test_y) < 0.65


def test_knn_takes_the_majority_and_breaks_a_tie_by_the_nearest():
    # Cosine similarity of (1, 0.5) to the training points: 0.894 (class 0), 0.447 (class 1),
    # -0.447 (class 1), -0.894 (class 0). k = 2: one vote each, the nearest (class 0) wins.
    # k = 3: class 1 has two votes and wins although the nearest point is class 0. The second
    # test point (0.5, 1) is the mirror image: neighbours of class 1, 0, 0 at k = 3, so class 0.
    train = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    train_y = np.array([0, 1, 0, 1])
    test = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert scores.knn_accuracy(train, train_y, test, [0, 1], k=2) == 1.0
    assert scores.knn_accuracy(train, train_y, test, [1, 0], k=3) == 1.0


def test_knn_compares_directions_not_lengths():
    # The test point is far from (1, 0) in Euclidean distance but points the same way.
    train = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 2.0]])
    assert scores.knn_accuracy(train, [0, 0, 1, 1], [[50.0, 1.0]], [0], k=1) == 1.0


def test_knn_refuses_k_beyond_the_training_set_and_mismatched_test_features():
    train, train_y = blobs(1, per_class=2)
    with pytest.raises(ValueError, match="k = 7 neighbours is out of range for 6 training"):
        scores.knn_accuracy(train, train_y, train, train_y, k=7)
    with pytest.raises(ValueError, match=r"test features must be \(images, 5\)"):
        scores.knn_accuracy(train, train_y, train[:, :4], train_y, k=1)
