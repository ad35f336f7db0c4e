"""WORKDIR/results.jsonl: one row per finished net (the schema in DEVELOPERS.md), appended
by every engine, read by the sweep, the report and the KerasTuner engine through `read_rows`,
and rebuilt from the run directories' result.json when it is damaged or behind."""

import fcntl
import json
import os

from absl import logging

RESULTS = "results.jsonl"
SUPERSEDED = "results_superseded.jsonl"  # rows sync_results dropped
# Every row has these (the report's contract; DEVELOPERS.md "results.jsonl row").
REQUIRED_KEYS = ("net", "kind", "n", "fine_tune", "split", "split_seed", "seed", "target",
                 "top1_best10")


def append_result(workdir, row):
    """Appends one row to results.jsonl: one write, fsynced, safe with concurrent writers.

    Distributed workers append to one shared file: an exclusive lock (local disks; NFS
    emulates it with byte-range locks) keeps the torn-line check and the write together, and
    O_APPEND with a single write keeps rows whole. Where locks are no-ops, the chief's final
    `sync_results` drops damaged lines and restores rows from the runs' result.json.
    """
    path = os.path.join(workdir, RESULTS)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        # A crash mid-append leaves a line without its newline; never glue a row onto it.
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        line = (("\n" if torn else "") + json.dumps(row, sort_keys=True) + "\n").encode()
        written = os.write(fd, line)
        if written != len(line):  # a full disk; never leave half a row behind silently
            raise OSError(f"short write to {path} ({written} of {len(line)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)  # also releases the lock


def read_rows(path):
    """(rows, damaged) of one results.jsonl: `rows` are (line number, row) of the lines that are
    JSON objects, `damaged` (line number, whether it is the last line, why) of the others. The
    one reader of the file: the sweep skips damaged lines and rebuilds the file from the run
    directories (`sync_results`); the report, which cannot, refuses a damaged line anywhere but
    at the end (a torn last row)."""
    with open(path, "rb") as f:
        lines = [(i, line) for i, line in enumerate(f.read().split(b"\n"), 1) if line.strip()]
    rows, damaged = [], []
    for k, (number, line) in enumerate(lines):
        last = k == len(lines) - 1
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            damaged.append((number, last, NOT_TEXT))
            continue
        try:
            row = json.loads(text)
        except ValueError:
            row = None
        if isinstance(row, dict):
            rows.append((number, row))
        else:
            damaged.append((number, last, "not a JSON object"))
    return rows, damaged


NOT_TEXT = "not UTF-8 text"


def read_results(workdir):
    """Rows of WORKDIR/results.jsonl; a damaged line is skipped with a warning."""
    path = os.path.join(workdir, RESULTS)
    if not os.path.exists(path):
        return []
    rows, damaged = read_rows(path)
    for number, _, why in damaged:
        logging.warning("%s line %d is damaged and ignored (%s)", path, number, why)
    return [row for _, row in rows]


def count_lines(path):
    with open(path) as f:
        return sum(1 for line in f if line.strip())
