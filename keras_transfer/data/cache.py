"""Where the data floor keeps what it computes once per dataset: the generated synthetic arrays
and each folder tree's or TFDS dataset's statistics, so that later opens (other processes, other
runs) skip the work."""

import json
import os
import tempfile


def cache_root(cache_dir):
    """cache_dir, else $KERAS_TRANSFER_CACHE, else ~/.cache/keras_transfer."""
    return (cache_dir or os.environ.get("KERAS_TRANSFER_CACHE")
            or os.path.join(os.path.expanduser("~"), ".cache", "keras_transfer"))


def cached_json(path, compute):
    """compute() once; its JSON result is kept at path (written atomically) for later opens."""
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    value = compute()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")  # concurrent openers
    with os.fdopen(fd, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)
    return value
