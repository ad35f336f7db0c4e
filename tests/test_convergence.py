"""The convergence diagnostic on hand-made validation curves (values known in advance)."""

import pytest

from keras_transfer.training import convergence
from keras_transfer.training.history import result_from_history, write_history_row
from keras_transfer.training.recipe import TrainConfig


def test_a_curve_flat_in_its_tail_is_converged():
    rise = [0.1, 0.3, 0.5, 0.6, 0.65, 0.68, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69]
    curve = rise + [0.70, 0.71] * 5  # 25 evaluations: fifths of 5
    d = convergence.diagnose(curve)
    # last fifth 0.706 (0.71, 0.70, 0.71, 0.70, 0.71), the fifth before 0.704
    assert d["status"] == "flat" and d["converged"] is True
    assert d["tail_gain"] == pytest.approx(0.002)
    # the ten best are exactly the last ten: the metric's window is the last two fifths
    assert d["best_from"] == 15 and d["best_in_tail"] is True
    assert d["evaluations"] == 25
    # one early spike above the tail pulls the window out of it
    spiked = convergence.diagnose([0.1, 0.9] + curve[2:])
    assert spiked["best_from"] == 1 and spiked["best_in_tail"] is False


def test_a_curve_still_rising_is_not_converged():
    curve = [i / 20 for i in range(20)]  # +0.05 per evaluation
    d = convergence.diagnose(curve)
    # last fifth mean 0.875, the fifth before 0.675
    assert d["status"] == "rising" and d["converged"] is False
    assert d["tail_gain"] == pytest.approx(0.2)
    assert d["best_from"] == 10 and d["best_in_tail"] is False  # best 10 = the last half


def test_a_falling_curve_and_a_short_one():
    falling = [0.5] * 12 + [0.4] * 4 + [0.3] * 4
    d = convergence.diagnose(falling)
    assert d["status"] == "falling" and d["tail_gain"] == pytest.approx(-0.1)
    assert d["converged"] is False
    short = convergence.diagnose([0.1, 0.2, 0.3])
    assert short["status"] == "too short" and short["converged"] is False
    assert short["tail_gain"] is None


def test_the_tolerance_is_the_boundary():
    curve = [0.5] * 16 + [0.515] * 4
    assert convergence.diagnose(curve)["status"] == "flat"        # +0.015 < 0.02
    assert convergence.diagnose(curve, tolerance=0.01)["status"] == "rising"


@pytest.mark.parametrize("losses, status", [
    ([2.9, 1.5, 0.9, 0.8], "ok"),
    ([2.9, 1.5, float("nan"), float("nan")], "diverged"),
    # finite but blown up: a negative learning rate reached 1e11 and stayed finite
    ([2.9, 40.0, 3e4, 1e11], "diverged"),
])
def test_a_blown_up_loss_marks_the_result_diverged(tmp_path, losses, status):
    config = TrainConfig(steps=4 * 25, eval_every=25, learning_rate=0.01, lr_step=1000)
    for epoch, loss in enumerate(losses):
        write_history_row(str(tmp_path / "history.jsonl"), epoch, 25, 1.0,
                                {"loss": loss, "val_loss": 1.0, "val_top1": 0.05 * epoch})
    result = result_from_history(str(tmp_path), config)
    assert result["status"] == status
    assert result["top1"] == pytest.approx(0.15) and result["steps"] == 100
