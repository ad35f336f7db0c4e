"""Shared fixtures: every test writes its caches (synthetic data, folder scans) under a tmp dir."""

import pytest


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("KERAS_TRANSFER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def pytest_collection_modifyitems(config, items):
    """Tests marked gpu are skipped where TensorFlow sees no GPU (TensorFlow is imported only
    when such a test was collected)."""
    marked = [item for item in items if item.get_closest_marker("gpu")]
    if not marked:
        return
    import tensorflow as tf
    if not tf.config.list_physical_devices("GPU"):
        for item in marked:
            item.add_marker(pytest.mark.skip(reason="needs a GPU; TensorFlow sees none"))
