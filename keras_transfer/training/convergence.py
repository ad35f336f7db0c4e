"""Whether a net converged, measured from its validation history: a pure function of the curve.

The diagnostic compares the mean validation top-1 of the last fifth of the evaluations with the
mean of the fifth before it. A net whose curve still gains more than `TOLERANCE` there was cut
off while learning ("rising"); one that loses more than that is unstable or over-fitting
("falling"); otherwise it is "flat", i.e. converged. The paper's metric (the mean of the 10 best
evaluations) samples the converged tail when all of those evaluations lie in the last two
fifths, the part of the curve the diagnostic looked at.
"""

import statistics

TOLERANCE = 0.02   # top-1: a gain smaller than this between the last two fifths is "flat"
FIFTH = 0.2
MIN_EVALUATIONS = 10  # fewer, and a fifth is one or two noisy points: the diagnostic abstains
BEST_K = 10
FLAT, RISING, FALLING, TOO_SHORT = "flat", "rising", "falling", "too short"


def diagnose(values, tolerance=TOLERANCE, best_k=BEST_K):
    """A dict for result.json and the results row, from validation top-1 values in order.

    status: flat / rising / falling / too short; converged: status == flat; tail_gain: mean of
    the last fifth minus the mean of the fifth before; best_in_tail: whether the `best_k` best
    evaluations all lie in the last two fifths; best_from: the 0-based index of the earliest of
    them (the metric's window starts there).
    """
    values = [float(v) for v in values]
    count = len(values)
    out = {"status": TOO_SHORT, "converged": False, "tail_gain": None, "best_in_tail": False,
           "best_from": None, "evaluations": count, "tolerance": tolerance}
    if count < MIN_EVALUATIONS:
        return out
    width = max(1, round(count * FIFTH))
    last, previous = values[-width:], values[-2 * width:-width]
    gain = statistics.fmean(last) - statistics.fmean(previous)
    status = RISING if gain > tolerance else FALLING if gain < -tolerance else FLAT
    ranked = sorted(range(count), key=lambda i: (-values[i], -i))[:best_k]
    best_from = min(ranked)
    out.update(status=status, converged=status == FLAT, tail_gain=round(gain, 6),
               best_in_tail=best_from >= count - 2 * width, best_from=best_from)
    return out
