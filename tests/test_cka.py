"""Linear and debiased CKA on small matrices whose answers are known or worked by hand."""

import math

import numpy as np
import pytest

from keras_transfer.diagnostics.cka import CkaAccumulator, debiased_cka, linear_cka


def related_pair(seed, m=30, p1=10, p2=12):
    """x and a noisy linear image of it, so that CKA sits well inside (0, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, p1))
    return x, x @ rng.normal(size=(p1, p2)) + 2.0 * rng.normal(size=(m, p2))


def orthogonal(seed, p):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(p, p)))
    return q * np.sign(np.diag(r))


def test_identical_representations_give_one():
    x, _ = related_pair(0)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert debiased_cka(x, x) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("cka", [linear_cka, debiased_cka])
def test_invariant_to_orthogonal_transforms_and_isotropic_scaling_of_either_side(cka):
    x, y = related_pair(1)
    reference = cka(x, y)
    assert 0.2 < reference < 0.95  # a value where a change would show
    assert cka(x @ orthogonal(2, x.shape[1]), y) == pytest.approx(reference, abs=1e-9)
    assert cka(x, y @ orthogonal(3, y.shape[1])) == pytest.approx(reference, abs=1e-9)
    assert cka(3.7 * x, y) == pytest.approx(reference, abs=1e-9)
    assert cka(x, 0.01 * y) == pytest.approx(reference, abs=1e-9)


def test_not_invariant_to_scaling_one_feature_more_than_another():
    # The centred columns u = (1, -1, 1, -1)/2 and v = (1, 1, -1, -1)/2 are orthonormal, so
    # X'X = I. Y = X diag(1, s): Y'X = diag(1, s), ||Y'X||^2 = 1 + s^2, ||X'X|| = sqrt(2),
    # ||Y'Y|| = sqrt(1 + s^4); CKA = (1 + s^2) / sqrt(2 (1 + s^4)) = 5 / sqrt(34) for s = 2.
    x = np.array([[1, 1], [-1, 1], [1, -1], [-1, -1]]) / 2.0
    assert linear_cka(x, x * [1.0, 2.0]) == pytest.approx(5 / math.sqrt(34), abs=1e-12)
    assert 5 / math.sqrt(34) == pytest.approx(0.857493, abs=1e-6)


def test_a_tiny_case_worked_by_hand():
    # x = (1, 2, 3) centres to a = (-1, 0, 1); y's columns (1, 0, 2) and (0, 1, 2) centre to
    # (0, -1, 1) and (-1, 0, 1). Y'a = (1, 2): ||Y'X||^2 = 5. X'X = [2]: ||X'X|| = 2.
    # Y'Y = [[2, 1], [1, 2]]: ||Y'Y|| = sqrt(4 + 1 + 1 + 4) = sqrt(10). CKA = 5 / (2 sqrt(10)).
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    assert linear_cka(x, y) == pytest.approx(5 / (2 * math.sqrt(10)), abs=1e-12)
    assert linear_cka(x, y) == pytest.approx(0.790569, abs=1e-6)


def test_gram_and_feature_space_give_the_same_number():
    # m = 30 < p1 + p2 = 80 takes the Gram route; the feature-space formula is written out here.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 40)), rng.normal(size=(30, 40))
    y[:, :20] += x[:, :20]
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    expected = (np.sum((yc.T @ xc) ** 2)
                / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))
    assert linear_cka(x, y) == pytest.approx(expected, abs=1e-12)


def test_debiased_cka_removes_the_few_examples_many_features_bias():
    # Independent Gaussian features, m = 20 examples, p = 500 features, ten seeds. Observed:
    # plain 0.960..0.968 every time; debiased 0.049, 0.060, 0.087, 0.011, 0.118, 0.078, 0.077,
    # 0.023, -0.064, 0.076 (mean 0.052). Over 200 seeds debiased has mean 0.003 and standard
    # deviation 0.077 at this m, so each value gets a 3-sigma band and the mean of ten a 4-sigma.
    plain, debiased = [], []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x, y = rng.normal(size=(20, 500)), rng.normal(size=(20, 500))
        plain.append(linear_cka(x, y))
        debiased.append(debiased_cka(x, y))
    assert min(plain) > 0.9
    assert max(abs(value) for value in debiased) < 0.25
    assert abs(np.mean(debiased)) < 0.1
    # ...while y = the first 250 of x's 500 features reads near its population value
    # ||C_xy||^2 / (||C_x|| ||C_y||) = 250 / sqrt(500 * 250) = 1/sqrt(2) = 0.707 (plain: 0.982).
    x = np.random.default_rng(0).normal(size=(20, 500))
    assert debiased_cka(x, x[:, :250]) == pytest.approx(0.7284, abs=1e-3)
    assert linear_cka(x, x[:, :250]) == pytest.approx(0.9823, abs=1e-3)


def test_debiased_cka_matches_kornblith_unbiased_gram_centring():
    # Kornblith et al.'s notebook reaches the same estimator another way: zero the Gram diagonal,
    # subtract adjusted row and column means, zero the diagonal again, then take cosine similarity.
    def centred(gram):
        gram = gram.copy()
        m = len(gram)
        np.fill_diagonal(gram, 0.0)
        means = gram.sum(axis=0) / (m - 2)
        means -= means.sum() / (2 * (m - 1))
        gram -= means[:, None] + means[None, :]
        np.fill_diagonal(gram, 0.0)
        return gram

    x, y = related_pair(5, m=12)
    gx, gy = centred(x @ x.T), centred(y @ y.T)
    expected = np.vdot(gx, gy) / (np.linalg.norm(gx) * np.linalg.norm(gy))
    assert debiased_cka(x, y) == pytest.approx(expected, abs=1e-12)
    assert debiased_cka(x + 50.0, y - 7.0) == pytest.approx(expected, abs=1e-9)


def test_accumulator_equals_linear_cka_on_the_concatenation():
    # A large common offset, as raw post-ReLU activations have, is where naive accumulation of
    # X'X - s s'/n would lose digits.
    rng = np.random.default_rng(6)
    x = 100.0 + rng.normal(size=(26, 6))
    y = x[:, :4] @ rng.normal(size=(4, 4)) + rng.normal(size=(26, 4)) + 50.0
    accumulator = CkaAccumulator()
    for start, stop in [(0, 7), (7, 20), (20, 25), (25, 26)]:
        accumulator.update(x[start:stop], y[start:stop])
    assert accumulator.count == 26
    assert accumulator.result() == pytest.approx(linear_cka(x, y), abs=1e-6)
    assert accumulator.result() == pytest.approx(linear_cka(x, y), abs=1e-10)


def test_accumulator_refuses_a_changed_feature_count_and_an_empty_result():
    accumulator = CkaAccumulator()
    with pytest.raises(ValueError, match="at least 2 examples; 0 were added"):
        accumulator.result()
    accumulator.update(np.ones((3, 5)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"x \(3, 4\).*5 and 2 features"):
        accumulator.update(np.ones((3, 4)), np.ones((3, 2)))


def test_debiased_cka_needs_four_examples():
    x = np.arange(6.0).reshape(3, 2)
    with pytest.raises(ValueError, match="at least 4 examples.*m = 3"):
        debiased_cka(x, x)


def test_mismatched_examples_and_non_2d_input_are_refused_with_their_shapes():
    with pytest.raises(ValueError, match=r"x \(5, 2\) \(5 examples\) and y \(4, 2\)"):
        linear_cka(np.ones((5, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"x \(4, 2, 2\) and y \(4, 3\).*reshape"):
        linear_cka(np.ones((4, 2, 2)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="x and y must hold the same examples"):
        CkaAccumulator().update(np.ones((5, 2)), np.ones((4, 2)))


def test_features_that_never_vary_are_refused():
    x = np.arange(8.0).reshape(4, 2)
    with pytest.raises(ValueError, match="y is the same for every example"):
        linear_cka(x, np.ones((4, 3)))
    with pytest.raises(ValueError, match="unbiased HSIC of x with itself is 0"):
        debiased_cka(np.ones((5, 3)), np.arange(10.0).reshape(5, 2))
