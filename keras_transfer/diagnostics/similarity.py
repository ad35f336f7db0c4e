"""How alike the layers of trained nets are, by linear and debiased CKA on the same images.

Three comparisons read a sweep's representations without training anything:
- **halves**: base A against base B at every pair of cut points (a layer x layer matrix) on the
  target half's validation images: how alike the two halves' features are at each n;
- **replicates**: a half's base in one replicate against the same half's base in the next, at
  each n: the noise floor, how alike two nets trained the same way from other seeds are;
- **AnB+** and **BnB+**: a fine-tuned net against the base its layers 1..n were copied from, at
  layer n, its deepest copied layer: how far fine-tuning moved that layer.

Features are those of `features.features` (a conv map averaged over its positions).
"""

import logging

from keras_transfer.diagnostics import cka
from keras_transfer.diagnostics import features as F

MEASURES = {"cka": cka.linear_cka, "debiased_cka": cka.debiased_cka}
PAIRS = ("halves", "replicates", "AnB+", "BnB+")


def measure(name, x, y):
    """CKA `name` of two feature arrays, or None where it is undefined (a layer that does not
    vary over these images)."""
    try:
        return MEASURES[name](x, y)
    except ValueError as e:
        logging.warning("CKA undefined: %s", e)
        return None


def matrix(x_features, y_features, ns):
    """{"ns", "cka", "debiased_cka"}: [[CKA of x at ns[i] with y at ns[j]]] for every i, j."""
    return {"ns": list(ns), **{name: [[measure(name, x_features[i], y_features[j]) for j in ns]
                                      for i in ns] for name in MEASURES}}


def diagonal(x_features, y_features, ns):
    """{n: {"cka", "debiased_cka"}} of x and y at the same cut point n."""
    return {n: {name: measure(name, x_features[n], y_features[n]) for name in MEASURES}
            for n in ns}


class Comparisons:
    """The CKA rows of one sweep. `load(replicate, name)` gives the trained net `name` ("baseA",
    "A3B+") of a replicate, or None when it did not train; `images(half)` the half's validation
    images, a finite dataset of (images, labels). Features are computed once per net and
    image half."""

    def __init__(self, load, images, ns):
        self.load, self.images, self.ns = load, images, list(ns)
        self._features = {}

    def features(self, replicate, name, half, ns=None):
        """{n: features} of net `name` of `replicate` on `half`'s images, or None."""
        key = (replicate, name, half)
        if key not in self._features:
            net = self.load(replicate, name)
            self._features[key] = (None if net is None else
                                   F.features(net, ns or self.ns, self.images(half))[0])
        return self._features[key]

    def halves(self, replicate, direction):
        """The layer x layer matrix of base <source> against base <target> of `direction`."""
        source, target = direction
        return {"replicate": replicate, "direction": direction, **matrix(
            self.features(replicate, f"base{source}", target),
            self.features(replicate, f"base{target}", target), self.ns)}

    def rows(self, replicates, directions):
        """[{"pair", "replicate", "direction", "n", "cka", "debiased_cka"}] of every
        comparison the sweep's nets allow, and the halves' matrices."""
        rows, matrices = [], []
        for r in replicates:
            for d in directions:
                found = self.halves(r, d)
                matrices.append(found)
                rows += [self._row("halves", r, d, n, {name: found[name][i][i] for name in
                                                       MEASURES})
                         for i, n in enumerate(self.ns)]
        for a, b in zip(replicates, replicates[1:]):
            for d in directions:
                target = f"base{d[1]}"
                for n, values in diagonal(self.features(a, target, d[1]),
                                          self.features(b, target, d[1]), self.ns).items():
                    rows.append(self._row("replicates", a, d, n, values))
        for r in replicates:
            for d in directions:
                rows += self._fine_tuned(r, d)
        return rows, matrices

    def _fine_tuned(self, replicate, direction):
        source, target = direction
        rows = []
        for pair, origin in (("AnB+", source), ("BnB+", target)):
            base = self.features(replicate, f"base{origin}", target)
            for n in self.ns:
                net = self.features(replicate, f"{origin}{n}{target}+", target, [n])
                if net is not None:
                    rows.append(self._row(pair, replicate, direction, n, {
                        name: measure(name, base[n], net[n]) for name in MEASURES}))
                    del self._features[(replicate, f"{origin}{n}{target}+", target)]
        return rows

    @staticmethod
    def _row(pair, replicate, direction, n, values):
        return {"pair": pair, "replicate": replicate, "direction": direction, "n": n, **values}
