"""The experiments in flags/*.flags: each parses, and each opens with what a reader needs before
running it (the command, what it shows, its measured cost or "not measured", a quicker variant)
as `#` lines, which absl skips."""

import glob
import os

import pytest
from absl.testing import flagsaver

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILES = sorted(glob.glob(os.path.join(REPO, "flags", "*.flags")))


def head(path):
    """The comment lines before the file's first flag."""
    lines = []
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            lines.append(line)
    return "".join(lines)


@pytest.mark.parametrize("path", FLAGFILES, ids=os.path.basename)
def test_a_flagfile_says_how_to_run_it_and_what_it_costs(path):
    text = head(path)
    name = os.path.basename(path)
    assert "python -m keras_transfer.sweep" in text, name
    assert name == "default.flags" or f"--flagfile=flags/{name}" in text, name
    for part in ("Run (from the repository root", "Shows:", "Wall time", "Quick"):
        assert part in text, f"{name}: no {part!r} in its head"
    assert "not measured" in text or "GB" in text, f"{name}: a cost, or 'not measured'"


@pytest.mark.parametrize("path", FLAGFILES, ids=os.path.basename)
def test_a_flagfile_parses(path, monkeypatch):
    from keras_transfer import sweep  # its flags: every flagfile is a sweep's
    monkeypatch.chdir(REPO)  # nested flagfiles are relative to the working directory
    with flagsaver.flagsaver():
        sweep.FLAGS(["sweep", f"--flagfile={path}"])
        assert sweep.FLAGS["model"].present and sweep.FLAGS["steps"].present
