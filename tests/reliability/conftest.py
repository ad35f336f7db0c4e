"""A finished tiny sweep (baseA, baseB) that tests copy before damaging."""

import shutil

import pytest

from keras_transfer.experiment import runner

from .common import tiny_config


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory):
    """Path of a workdir where baseA and baseB finished (4 steps each); do not modify it."""
    workdir = tmp_path_factory.mktemp("finished")
    runner.run_sweep(tiny_config(workdir))
    return workdir


@pytest.fixture
def finished_copy(finished_sweep, tmp_path):
    """A private copy of `finished_sweep` to damage."""
    return shutil.copytree(finished_sweep, tmp_path / "work")
