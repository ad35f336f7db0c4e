"""Intervals, verdicts and the pairing of units on hand-made rows whose answers are known."""

import math

import pytest
from test_report import row

from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import findings as F
from keras_transfer.reporting import stats

T_975_DF2 = 4.302652729911275  # Student's t, 97.5 % quantile, 2 degrees of freedom


def test_t_interval_of_three_values():
    est = stats.estimate([0.1, 0.2, 0.3])
    half = T_975_DF2 * 0.1 / math.sqrt(3)  # sample std of 0.1, 0.2, 0.3 is 0.1
    assert half == pytest.approx(0.248414, abs=1e-6)
    assert (est.mean, est.low, est.high, est.count) == (
        pytest.approx(0.2), pytest.approx(0.2 - half), pytest.approx(0.2 + half), 3)
    assert est.half_width == pytest.approx(half)
    assert str(est) == "+0.200 [\u22120.048, +0.448] (3 runs)"
    assert est.pm() == "0.2000 ± 0.2484 (3 runs)"


def test_a_single_value_has_no_interval_and_is_inconclusive():
    est = stats.estimate([0.05])
    assert (est.mean, est.low, est.high, est.conclusive) == (0.05, None, None, False)
    assert str(est) == "+0.050 (1 run)" and est.pm() == "0.0500 (1 run)"
    assert stats.sign_verdict(est, 1) == stats.INCONCLUSIVE
    assert stats.near_verdict(stats.estimate([0.0]), 0.02) == stats.INCONCLUSIVE
    assert stats.estimate([]) is None


def test_paired_difference_removes_the_shared_part():
    pairs = [(0.5, 0.49), (0.7, 0.68), (0.9, 0.87)]  # wildly different units, steady +0.01..0.03
    est = stats.paired_difference(pairs)
    assert est.mean == pytest.approx(0.02)
    assert est.half_width == pytest.approx(T_975_DF2 * 0.01 / math.sqrt(3))


@pytest.mark.parametrize("values, predicted, expected", [
    ([0.02, 0.03, 0.04], 1, stats.HOLDS),          # 0.03 +- 0.0248: above zero
    ([0.02, 0.03, 0.04], -1, stats.FAILS),
    ([0.01, 0.02, 0.03], 1, stats.INCONCLUSIVE),   # 0.02 +- 0.0248 reaches below zero
    ([-0.01, 0.02, 0.05], 1, stats.INCONCLUSIVE),
])
def test_sign_verdict(values, predicted, expected):
    assert stats.sign_verdict(stats.estimate(values), predicted) == expected


@pytest.mark.parametrize("values, predicted, expected", [
    ([0.002, 0.003, 0.004], 1, stats.HOLDS),        # above zero, however small
    ([-0.003, 0.0, 0.003], 1, stats.FAILS),         # about +-0.0075: an effect of 0.02 excluded
    ([-0.003, 0.0, 0.003], -1, stats.FAILS),
    ([-0.01, 0.0, 0.01], 1, stats.INCONCLUSIVE),    # about +-0.025: reaches past +-0.02
    ([-0.003, 0.0, 0.003][:1], 1, stats.INCONCLUSIVE),  # one replicate: no interval
])
def test_effect_verdict_excludes_an_effect_as_large_as_the_margin(values, predicted, expected):
    assert stats.effect_verdict(stats.estimate(values), predicted, 0.02) == expected


@pytest.mark.parametrize("values, expected", [
    ([-0.002, 0.0, 0.002], stats.HOLDS),          # interval about +-0.005: inside +-0.02
    ([0.05, 0.06, 0.07], stats.FAILS),            # entirely above +0.02
    ([-0.07, -0.06, -0.05], stats.FAILS),         # entirely below -0.02
    ([0.0, 0.02, 0.04], stats.INCONCLUSIVE),      # straddles +0.02
])
def test_near_verdict(values, expected):
    assert stats.near_verdict(stats.estimate(values), 0.02) == expected


def test_combine():
    assert stats.combine([stats.HOLDS, stats.HOLDS]) == stats.HOLDS
    assert stats.combine([stats.HOLDS, stats.INCONCLUSIVE]) == stats.INCONCLUSIVE
    assert stats.combine([stats.INCONCLUSIVE, stats.FAILS]) == stats.FAILS


# Two directions x three replicates. Bases differ a lot between replicates (0.5 / 0.6 / 0.7),
# BnB+ - base is small and known per unit: A +0.01 +0.02 +0.03, B +0.03 +0.04 +0.05.
BASES = {0: 0.5, 1: 0.6, 2: 0.7}
GAIN = {"A": (0.01, 0.02, 0.03), "B": (0.03, 0.04, 0.05)}


def units_rows(gain=GAIN, base_shift=None):
    rows = []
    for rep, base in BASES.items():
        for t in "AB":
            b = base + (base_shift or {}).get(t, 0.0)
            rows.append({**row(f"base{t}", "base", 0, False, None, t, b), "replicate": rep})
            rows.append({**row(f"{t}1{t}+", "selffer", 1, True, t, t, b + gain[t][rep]),
                         "replicate": rep})
    return rows


def test_pairing_within_units_then_directions_then_replicates():
    p = D.paired(units_rows(), "BnB+", "base", [1])
    half = T_975_DF2 * 0.01 / math.sqrt(3)  # per-replicate means 0.02, 0.03, 0.04
    assert p.estimate.mean == pytest.approx(0.03) and p.estimate.count == 3
    assert p.estimate.half_width == pytest.approx(half)
    assert p.directions["A"].mean == pytest.approx(0.02)
    assert p.directions["B"].mean == pytest.approx(0.04)
    assert p.directions["B"].half_width == pytest.approx(half)
    assert sorted(p.blocks.values()) == pytest.approx([0.02, 0.03, 0.04])
    # Unpaired, the bases' own spread (0.1 between replicates) would swamp the difference:
    absolute = F.per_n(units_rows(), "BnB+")[1]
    assert absolute.half_width > 10 * half
    # A fixed offset between the directions (target B's base 0.2 lower) is a fixed factor:
    # it changes neither the paired estimate nor its interval.
    shifted = D.paired(units_rows(base_shift={"B": -0.2}), "BnB+", "base", [1])
    assert shifted.estimate.mean == pytest.approx(0.03)
    assert shifted.estimate.half_width == pytest.approx(half)


def test_a_replicate_missing_one_direction_averages_what_it_has():
    rows = [r for r in units_rows() if not (r["replicate"] == 2 and r["target"] == "B")]
    p = D.paired(rows, "BnB+", "base", [1])
    assert sorted(p.blocks.values()) == pytest.approx([0.02, 0.03, 0.03])  # r2: A only
    assert p.directions["B"].count == 2


def test_diverged_rows_enter_no_mean():
    rows = units_rows()
    bad = {**row("A1A+", "selffer", 1, True, "A", "A", float("nan")), "replicate": 0,
           "status": "diverged"}
    p = D.paired(rows + [bad], "BnB+", "base", [1])
    assert p.estimate == D.paired(rows, "BnB+", "base", [1]).estimate
    assert bad not in F.select(rows + [bad])
    assert F.per_n(rows + [bad], "BnB+")[1] == F.per_n(rows, "BnB+")[1]
