"""A sweep stopped inside a fused group, or between the members of one, reruns to exactly the
results of an uninterrupted sweep, and leaves no group state behind."""

import json
import os

import pytest

from keras_transfer.experiment import runner
from keras_transfer.training import fit

from .common import tiny_config


class Crash(Exception):
    pass


def config(workdir):
    # Selffers at n = 1, 2: four fused groups, A1A+A2A and B's of two, their "+" groups of
    # three (A1A+, A2A+ and the continued base A8A+).
    return tiny_config(workdir, layers=(1, 2), experiments=("base", "selffer"))


def outcome(workdir):
    """{net key: (weights checksum, best-10, final top-1, fused members)} from the run dirs."""
    got = {}
    for root, _, files in os.walk(os.path.join(workdir, "runs")):
        if "result.json" in files:
            with open(os.path.join(root, "result.json")) as f:
                r = json.load(f)
            with open(os.path.join(root, "manifest.json")) as f:
                members = json.load(f).get("fused", {}).get("nets")
            got[os.path.relpath(root, os.path.join(workdir, "runs"))] = (
                r["weights_sha256"], r["top1_best10"], r["top1"], members)
    return got


def result_rows(workdir):
    with open(os.path.join(workdir, "results.jsonl")) as f:
        return sorted(json.loads(line)["net"] for line in f)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    runner.run_sweep(config(workdir))
    return outcome(workdir), result_rows(workdir)


def test_stopped_between_members_of_a_group_resumes_as_that_group(tmp_path, monkeypatch,
                                                                   uninterrupted):
    expected, rows = uninterrupted
    assert len(expected) == 12 and all(v[3] and len(v[3]) == (3 if k.endswith("+") else 2)
                                       for k, v in expected.items() if "base" not in k)
    original, calls = runner.finish, []

    def dies_after_first_member(ctx, net, model, copied_sha, result, fused_info):
        if fused_info:  # a member of a group: the group trained
            calls.append(net.key)
            if len(calls) == 2:  # the group trained, its first member is written: die
                raise Crash()
        return original(ctx, net, model, copied_sha, result, fused_info)

    monkeypatch.setattr(runner, "finish", dies_after_first_member)
    with pytest.raises(Crash):
        runner.run_sweep(config(tmp_path))
    monkeypatch.setattr(runner, "finish", original)
    assert len(outcome(tmp_path)) == 3  # two bases and one member of the first group
    assert os.listdir(tmp_path / "fused")  # the group's state, for the rerun
    runner.run_sweep(config(tmp_path))
    assert outcome(tmp_path) == expected  # same weights, numbers and fused membership
    assert result_rows(tmp_path) == rows  # every net exactly once
    assert not (tmp_path / "fused").exists()


@pytest.mark.slow  # ~1 min: another sweep and a half
def test_stopped_inside_a_group_resumes_to_the_same_results(tmp_path, monkeypatch,
                                                            uninterrupted):
    expected, rows = uninterrupted
    original = fit.NetLogs.on_epoch_end
    seen = []

    def dies_in_second_interval(self, epoch, logs=None):
        if epoch == 1 and not seen:  # the first group's first checkpoint is written
            seen.append(epoch)
            raise Crash()
        return original(self, epoch, logs)

    monkeypatch.setattr(fit.NetLogs, "on_epoch_end", dies_in_second_interval)
    with pytest.raises(Crash):
        runner.run_sweep(config(tmp_path))
    monkeypatch.setattr(fit.NetLogs, "on_epoch_end", original)
    runner.run_sweep(config(tmp_path))
    assert outcome(tmp_path) == expected
    assert result_rows(tmp_path) == rows
    assert not (tmp_path / "fused").exists()
