"""Linear CKA between two layers' features of the same examples (Kornblith et al., ICML 2019).

"Similarity of Neural Network Representations Revisited" compares X (m x p1) and Y (m x p2),
two representations of the same m examples, by the normalised Hilbert-Schmidt independence
criterion (HSIC) of their linear kernels. CKA is invariant to orthogonal transforms and isotropic
scaling of either side, so two nets whose layers differ only by a rotation score 1, but not to
arbitrary invertible linear maps, which is what keeps it informative when p approaches m (CCA
scores every pair 1 there).

Every function takes 2-D arrays, one row per example, and raises ValueError otherwise: a conv map
is flattened per example by the caller, `x.reshape(len(x), -1)`, because how to subsample the
spatial positions first is the caller's choice. Arithmetic is float64 whatever comes in: float32
sums of squared activations over thousands of examples lose the digits CKA is read at.
"""

import numpy as np


def linear_cka(x, y):
    """Linear CKA of x (m x p1) and y (m x p2): ||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F), centred."""
    x, y = _paired(x, y)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    if len(x) < x.shape[1] + y.shape[1]:
        # Flattened conv maps have far more features than examples; the m x m Gram matrices give
        # the same three norms (||Y'X||_F^2 = <XX', YY'>, ||X'X||_F = ||XX'||_F) far cheaper.
        k, l = x @ x.T, y @ y.T
        return _normalised(np.vdot(k, l), np.linalg.norm(k), np.linalg.norm(l))
    return _normalised(np.sum((y.T @ x) ** 2), np.linalg.norm(x.T @ x), np.linalg.norm(y.T @ y))


def debiased_cka(x, y):
    """Linear CKA of x (m x p1) and y (m x p2) from the unbiased HSIC estimator (Song et al. 2012).

    Plain CKA is biased upward when examples are few and features many: for independent random
    features with m = 20 and p = 500 it reads above 0.9. The unbiased estimator removes that
    bias, so unrelated features score near 0 (and may go below it), as used by Kornblith
    et al.'s notebook and by Nguyen et al. 2021, "Do wide and deep networks learn the same
    things?". It divides by m - 3, so it needs m >= 4.
    """
    x, y = _paired(x, y)
    m = len(x)
    if m < 4:
        raise ValueError(
            f"debiased CKA needs at least 4 examples (the unbiased HSIC divides by m - 3); got "
            f"m = {m}. Pass more examples.")
    # The unbiased HSIC is unchanged by a shift of the features; centring first only keeps the
    # Gram entries small so that nothing cancels.
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    k, l = x @ x.T, y @ y.T
    xy, xx, yy = _unbiased_hsic(k, l), _unbiased_hsic(k, k), _unbiased_hsic(l, l)
    if xx <= 0.0 or yy <= 0.0:
        side, value = ("x", xx) if xx <= 0.0 else ("y", yy)
        raise ValueError(
            f"the unbiased HSIC of {side} with itself is {value:.3g}, not positive: {side} barely "
            f"varies over these {m} examples, so debiased CKA is undefined. Pass more examples.")
    return float(xy / np.sqrt(xx * yy))


def _unbiased_hsic(k, l):
    """HSIC_1 of Song et al. 2012 on Gram matrices k, l (m x m), up to a constant that CKA drops.

    With K~, L~ the Gram matrices with zeroed diagonals:
    [tr(K~L~) + 1'K~1 1'L~1 / ((m-1)(m-2)) - 2/(m-2) 1'K~L~1] / (m(m-3)).
    """
    m = len(k)
    k = k.copy()
    l = l.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    row_k, row_l = k.sum(axis=0), l.sum(axis=0)
    # Both matrices are symmetric: tr(K~L~) is the elementwise product's sum and 1'K~L~1 is the
    # dot product of their column sums, both O(m^2) instead of a matrix product.
    total = (np.vdot(k, l) + row_k.sum() * row_l.sum() / ((m - 1) * (m - 2))
             - 2.0 / (m - 2) * (row_k @ row_l))
    return total / (m * (m - 3))


class CkaAccumulator:
    """Linear CKA over examples that arrive in batches, without keeping the examples.

    It keeps the feature-space cross products X'X, Y'Y, X'Y and the column sums, so centring can
    be done exactly at the end: `result()` equals `linear_cka` on the concatenated batches. The
    memory is (p1 + p2)^2 floats whatever the number of examples, so it suits fully connected
    layers (4096 + 4096 features: 512 MiB); for flattened conv maps use `linear_cka` on a
    subsample of examples instead.
    """

    def __init__(self):
        self.count = 0
        self._shift_x = self._shift_y = None
        self._sum_x = self._sum_y = None
        self._xx = self._yy = self._xy = None

    def update(self, x_batch, y_batch):
        """Add a batch: x_batch (b x p1) and y_batch (b x p2) hold the same b examples."""
        x, y = _paired(x_batch, y_batch)
        if self._xx is None:
            # Centring at the end subtracts s s'/n from X'X; with raw post-ReLU activations both
            # terms are large and nearly equal. Any fixed shift leaves CKA unchanged, so shifting
            # by the first batch's means keeps the sums small and the subtraction exact enough.
            self._shift_x, self._shift_y = x.mean(axis=0), y.mean(axis=0)
            p1, p2 = x.shape[1], y.shape[1]
            self._sum_x, self._sum_y = np.zeros(p1), np.zeros(p2)
            self._xx, self._yy = np.zeros((p1, p1)), np.zeros((p2, p2))
            self._xy = np.zeros((p1, p2))
        elif (x.shape[1], y.shape[1]) != (len(self._sum_x), len(self._sum_y)):
            raise ValueError(
                f"batch features changed: this batch has x {x.shape} and y {y.shape}, earlier "
                f"batches had {len(self._sum_x)} and {len(self._sum_y)} features per example.")
        x = x - self._shift_x
        y = y - self._shift_y
        self.count += len(x)
        self._sum_x += x.sum(axis=0)
        self._sum_y += y.sum(axis=0)
        self._xx += x.T @ x
        self._yy += y.T @ y
        self._xy += x.T @ y

    def result(self):
        """Linear CKA over every example added so far."""
        if self.count < 2:
            raise ValueError(
                f"CKA needs at least 2 examples; {self.count} were added. Call update() first.")
        n = self.count
        xx = self._xx - np.outer(self._sum_x, self._sum_x) / n
        yy = self._yy - np.outer(self._sum_y, self._sum_y) / n
        xy = self._xy - np.outer(self._sum_x, self._sum_y) / n
        return _normalised(np.sum(xy ** 2), np.linalg.norm(xx), np.linalg.norm(yy))


def _normalised(cross, norm_x, norm_y):
    """HSIC(X, Y) / sqrt(HSIC(X, X) HSIC(Y, Y)), refusing a side that does not vary."""
    if norm_x == 0.0 or norm_y == 0.0:
        side = "x" if norm_x == 0.0 else "y"
        raise ValueError(
            f"{side} is the same for every example (zero variance), so CKA is undefined; check "
            f"that the layer's features were extracted from distinct inputs.")
    return float(cross / (norm_x * norm_y))


def _paired(x, y):
    """x and y as float64 2-D arrays of the same examples, or a ValueError naming both shapes."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(
            f"CKA takes 2-D features (examples, features); got x {x.shape} and y {y.shape}. "
            f"Flatten conv maps per example first: x.reshape(len(x), -1).")
    if len(x) != len(y):
        raise ValueError(
            f"x and y must hold the same examples; got x {x.shape} ({len(x)} examples) and "
            f"y {y.shape} ({len(y)} examples).")
    return x, y
