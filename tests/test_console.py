"""The sweep's console: one line per net, a unit's time, and an ETA from measured cost."""

import re
from types import SimpleNamespace

import pytest

from keras_transfer.experiment import progress


def net(key, n, mode="frozen"):
    return SimpleNamespace(key=key, n=n, mode=mode)


BASE_A, BASE_B = [net("r0/baseA", 0, "base")], [net("r0/baseB", 0, "base")]
GROUP = [net(f"r0/A{n}B", n) for n in (1, 2, 3)]  # three heads on one trunk
OTHER_GROUP = [net(f"r0/B{n}A", n) for n in (1, 2, 3)]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress.time, "time", clock)
    return clock


def test_cost_model_prefers_units_of_the_same_shape():
    cost = progress.CostModel()
    assert cost.seconds_per_step(BASE_A) is None  # nothing measured: no guess
    cost.add(BASE_A, seconds=20.0, steps=10)
    cost.add(GROUP, seconds=90.0, steps=10)
    assert cost.seconds_per_step(BASE_B) == pytest.approx(2.0)  # same (n, mode)
    assert cost.seconds_per_step(OTHER_GROUP) == pytest.approx(9.0)  # same size and mode
    # Another size of a measured mode: that mode's cost per net, times its nets.
    assert cost.seconds_per_step(GROUP[:2]) == pytest.approx(3.0 * 2)
    unseen = [net("r0/A1B+", 1, "fine_tune")] * 2
    # A mode not timed yet: what a net alone costs (the base's 2.0 and the frozen group's
    # 3.0 / 0.2 = 15 a net, averaged), times what fusing whole nets costs per net, times its nets.
    whole, shared = (progress.FUSED_COST_PER_NET[k] for k in ("whole_nets", "shared_trunk"))
    alone = (2.0 + 3.0 / shared) / 2
    assert cost.seconds_per_step(unseen) == pytest.approx(alone * whole * 2)
    assert cost.seconds_per_step(unseen[:1]) == pytest.approx(alone)
    # A base's recorded mode is "frozen" (n = 0), yet it is no measure of frozen heads.
    cost = progress.CostModel()
    cost.add([net("r0/baseA", 0)], seconds=100.0, steps=10)
    assert cost.seconds_per_step(GROUP) == pytest.approx(10.0 * shared * 3)


def test_plain_output_has_a_line_per_net_and_a_truthful_eta(capsys, clock):
    units = [(BASE_A, BASE_A), (BASE_B, BASE_B), (GROUP, GROUP), (OTHER_GROUP, OTHER_GROUP)]
    steps = 10
    with progress.SweepProgress(9, 1, units, steps, bars=False) as console:
        for unit, todo in units:
            callback = console.start(unit)
            callback.params = {"steps": 5}
            for epoch in range(2):
                callback.on_epoch_begin(epoch)
                for batch in range(5):
                    callback.on_train_batch_end(batch)
                clock.now += 10.0 * len(unit)  # a group costs its nets' time
                callback.on_epoch_end(epoch)
            console.finish(unit, todo, [f"{m.key} top1 0.5" for m in todo])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "\r" not in out and "\x1b" not in out  # a log file gets plain lines
    numbered = [line for line in lines if line.startswith("[")]
    assert [line.split()[0] for line in numbered] == [f"[{k}/9]" for k in range(2, 10)]
    assert numbered[2].endswith("r0/A1B top1 0.5")
    # After baseA (20 s): baseB costs the same; a group of three frozen heads, not timed yet,
    # costs 3 x 20 s x FUSED_COST_PER_NET (0.2): 12 s. Said to be a guess.
    assert ("r0/baseA: 20 s; 2/9 nets, 20 s elapsed, ETA ~44 s (2 units of kinds not yet "
            "timed)") in out  # 20 + 12 + 12 s
    # After the first group the second is costed as the first one was: 60 s.
    assert re.search(r"r0/A1B: 60 s; 6/9 nets, 2 min elapsed, ETA 60 s$", out, re.MULTILINE)
    assert lines[-1].endswith("9/9 nets, 3 min elapsed, sweep trained")


def test_a_long_unit_prints_its_progress_without_a_terminal(capsys, clock):
    units = [(BASE_A, BASE_A)]
    with progress.SweepProgress(1, 0, units, 10, bars=False) as console:
        callback = console.start(BASE_A)
        callback.params = {"steps": 5}
        callback.on_epoch_begin(0)
        clock.now += progress.PROGRESS_SECONDS + 1
        callback.on_epoch_end(0, {"val_top1": 0.25, "top1": 0.9})
        clock.now += 1
        callback.on_epoch_end(1, {"val_top1": 0.5})  # too soon for another line
        console.finish(BASE_A, BASE_A, ["r0/baseA done"])
    out = capsys.readouterr().out
    progress_lines = [line for line in out.splitlines() if "step 5/10" in line]
    assert progress_lines == [("  r0/baseA: step 5/10 (50%), validation top-1 0.250, 5 min "
                               "so far; sweep ETA: after the first unit")]
    assert "step 10/10" not in out


@pytest.mark.parametrize("seconds, text", [(42, "42 s"), (720, "12 min"), (12600, "3.5 h")])
def test_durations_read_naturally(seconds, text):
    assert progress.duration(seconds) == text
