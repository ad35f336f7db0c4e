"""Idempotence: a finished sweep rerun trains nothing and changes no file; a changed recipe is
reported, never silently reused."""

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
