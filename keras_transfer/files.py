"""Atomic text and JSON files and config hashes: the on-disk primitives every layer writes with."""

import hashlib
import json
import os

from absl import logging


def write_text(path, text):
    """Writes a text file atomically: temp file, fsync, rename (a reader never sees half)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path, obj):
    """Writes JSON atomically (write_text)."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=str))


def read_json(path):
    """The JSON object at `path`, or None (with a warning) when it is missing, truncated, garbage
    or not an object (every file the sweep writes holds one)."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        logging.warning("ignoring unreadable %s (%s)", path, e)
        return None
    if not isinstance(obj, dict):
        logging.warning("ignoring %s: it holds a JSON %s, not an object", path,
                        type(obj).__name__)
        return None
    return obj


def config_hash(config):
    """sha256 (16 hex) of a JSON-able config: the identity of a net's run."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_sha256(path):
    """sha256 (hex) of a file's bytes, read in 1 MiB blocks; of a directory, of its files'
    relative paths and bytes in sorted order (a SavedModel)."""
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(root, name)
                digest.update(os.path.relpath(full, path).encode() + b"\0")
                digest.update(file_sha256(full).encode())
        return digest.hexdigest()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
