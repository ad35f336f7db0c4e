"""Means with 95 % t-intervals, and the three-way verdict a finding gets from one.

A number in the report is a mean over replicates (independent re-runs of the sweep with their own
inits and data orders), so its uncertainty is Student's t-interval with count - 1 degrees of
freedom. One replicate gives a mean but no interval: a verdict made from it is inconclusive,
never "holds", however large the difference looks.
"""

import dataclasses
import math
import statistics

from scipy import stats as scipy_stats

CONFIDENCE = 0.95
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
MINUS = "\u2212"  # typographic minus: "-0.004" and "−0.004" must not be told apart by width


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean and its two-sided t-interval; low and high are None for a single value."""
    mean: float
    low: float | None
    high: float | None
    count: int
    values: tuple

    @property
    def half_width(self):
        return None if self.low is None else (self.high - self.low) / 2

    @property
    def conclusive(self):
        return self.low is not None

    def __str__(self):
        return self.interval()

    def interval(self, digits=3, signed=True):
        """'+0.012 [−0.004, +0.028] (3 runs)'; a single value shows no interval."""
        f = lambda v: signed_text(v, digits) if signed else f"{v:.{digits}f}"  # noqa: E731
        if not self.conclusive:
            return f"{f(self.mean)} {self.runs}"
        return f"{f(self.mean)} [{f(self.low)}, {f(self.high)}] {self.runs}"

    def pm(self, digits=4):
        """'0.6100 ± 0.0127 (3 runs)': an absolute accuracy with its interval's half-width."""
        if not self.conclusive:
            return f"{self.mean:.{digits}f} {self.runs}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f} {self.runs}"

    @property
    def runs(self):
        """'(3 runs)': how many independent values (replicate blocks) the estimate is over,
        in words, since "n" is the layer axis everywhere in a report."""
        return f"({self.count} run{'' if self.count == 1 else 's'})"


def signed_text(value, digits=3):
    text = f"{value:+.{digits}f}"
    return MINUS + text[1:] if text.startswith("-") else text


def estimate(values, confidence=CONFIDENCE):
    """Mean and t-interval of `values` (independent samples), or None when there are none."""
    values = tuple(float(v) for v in values)
    if not values:
        return None
    mean = statistics.fmean(values)
    if len(values) == 1:
        return Estimate(mean, None, None, 1, values)
    t = scipy_stats.t.ppf(0.5 + confidence / 2, len(values) - 1)
    half = t * statistics.stdev(values) / math.sqrt(len(values))
    return Estimate(mean, mean - half, mean + half, len(values), values)


def paired_difference(pairs, confidence=CONFIDENCE):
    """Estimate of a - b over (a, b) pairs measured on the same unit (the paired t-interval)."""
    return estimate([a - b for a, b in pairs], confidence)


def sign_verdict(est, predicted):
    """Verdict on "the quantity is positive" (predicted=+1) or "negative" (-1).

    holds: the interval lies entirely on the predicted side of zero; does not hold: entirely on
    the other side; inconclusive otherwise, and always for a single replicate.
    """
    if est is None or not est.conclusive:
        return INCONCLUSIVE
    low, high = (est.low, est.high) if predicted > 0 else (-est.high, -est.low)
    return HOLDS if low > 0 else FAILS if high < 0 else INCONCLUSIVE


def effect_verdict(est, predicted, margin):
    """Verdict on "there is a positive (predicted=+1) or negative (-1) effect": `sign_verdict`,
    and also does not hold when the interval lies within +-margin: an effect as large as the
    margin is then excluded (an equivalence test), the reading a tight interval around zero
    deserves rather than "inconclusive"."""
    verdict = sign_verdict(est, predicted)
    if verdict == INCONCLUSIVE and negligible(est, margin):
        return FAILS
    return verdict


def negligible(est, margin):
    """The interval lies within +-margin (a conclusive estimate only)."""
    return est is not None and est.conclusive and -margin <= est.low and est.high <= margin


def near_verdict(est, margin):
    """Verdict on "the quantity is about zero": holds when the interval lies within +-margin,
    does not hold when it lies entirely outside, inconclusive otherwise (or a single replicate)."""
    if est is None or not est.conclusive:
        return INCONCLUSIVE
    if -margin <= est.low and est.high <= margin:
        return HOLDS
    return FAILS if est.low > margin or est.high < -margin else INCONCLUSIVE


def combine(verdicts):
    """One verdict from several parts a finding needs: holds if all hold, does not hold if any
    does not, inconclusive otherwise."""
    verdicts = list(verdicts)
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return FAILS if FAILS in verdicts else INCONCLUSIVE
