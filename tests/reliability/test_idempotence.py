"""Idempotence: a finished sweep rerun trains nothing and changes no file; a changed recipe is
reported, never silently reused."""

import json

from .common import error_lines, run_cli, tree_digest


def test_rerunning_a_finished_sweep_changes_nothing(finished_copy):
    before = tree_digest(finished_copy)
    out = run_cli(finished_copy, "--experiments=base", "--noexport")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 nets" in out.stdout and "all 2 done already, nothing to train" in out.stdout
    assert "Epoch" not in out.stdout  # nothing trained
    assert tree_digest(finished_copy) == before


def test_changed_learning_rate_is_reported_not_reused(finished_copy):
    before = tree_digest(finished_copy)
    out = run_cli(finished_copy, "--experiments=base", "--learning_rate=0.02")
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    errors = error_lines(out.stderr)
    assert len(errors) == 1, out.stderr[-3000:]
    assert "--learning_rate: this run 0.02, the workdir's 0.01" in errors[0]
    assert "use a new --workdir" in errors[0]
    assert tree_digest(finished_copy) == before


def test_more_replicates_train_only_the_new_ones(finished_copy):
    """A workdir run with one replicate takes a second: r0 is kept byte for byte, r1 trains."""
    before = tree_digest(finished_copy)
    out = run_cli(finished_copy, "--experiments=base", "--noexport", "--replicates=2")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "4 nets" in out.stdout and "2 to train" in out.stdout, out.stdout[-3000:]
    after = tree_digest(finished_copy)
    r0 = {path: digest for path, digest in before.items() if path.startswith("runs/r0/")}
    assert r0 and all(after[path] == digest for path, digest in r0.items())
    rows = [json.loads(line) for line in (finished_copy / "results.jsonl").read_text().splitlines()]
    assert sorted((row["replicate"], row["net"]) for row in rows) == [
        (0, "baseA"), (0, "baseB"), (1, "baseA"), (1, "baseB")]
    assert json.loads((finished_copy / "sweep.json").read_text())["replicates"] == 2
