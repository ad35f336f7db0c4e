"""An unwritable or full workdir: a clear error before training, or a clear error mid-run that
keeps the finished work; checkpoint writes are atomic (see test_corrupt_state)."""

import errno
import os

import pytest
from absl.testing import flagsaver

from keras_transfer.experiment import rundir

from .common import REPO, error_lines, run_cli


def test_workdir_under_a_regular_file_fails_before_training(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    out = run_cli(tmp_path / "file" / "sub", "--experiments=base")
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    errors = error_lines(out.stderr)
    assert len(errors) == 1, out.stderr[-3000:]
    assert "is not writable (Not a directory); choose another --workdir" in errors[0]
    assert "Epoch" not in out.stdout and "sweep:" not in out.stdout  # nothing started


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_workdir_fails_before_training(tmp_path):
    workdir = tmp_path / "ro"
    workdir.mkdir()
    workdir.chmod(0o500)
    try:
        with pytest.raises(rundir.RunDirError, match="is not writable .*Permission denied"):
            rundir.check_writable(str(workdir))
    finally:
        workdir.chmod(0o700)


def test_disk_full_mid_sweep_is_one_clear_error(tmp_path, monkeypatch):
    from keras_transfer import sweep
    from keras_transfer.experiment import runner

    def full(config):
        raise OSError(errno.ENOSPC, "No space left on device",
                      str(tmp_path / "runs/r0/baseA/checkpoints/.tmp-ckpt-000002.weights.h5"))

    monkeypatch.setattr(runner, "run_sweep", full)
    with flagsaver.flagsaver():
        sweep.FLAGS(["sweep", f"--flagfile={REPO}/flags/tiny.flags", f"--workdir={tmp_path}"])
        with pytest.raises(SystemExit) as exit:
            sweep.main(["sweep"])
    message = str(exit.value.code)
    assert message.startswith("error: No space left on device writing ")
    assert "rerun the same command to resume" in message and "\n" not in message
