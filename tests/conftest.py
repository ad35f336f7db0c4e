"""Shared fixtures: every test writes its caches (synthetic data, folder scans) under a tmp dir."""

import pytest


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("KERAS_TRANSFER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
