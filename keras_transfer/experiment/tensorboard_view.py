"""WORKDIR/tensorboard: every finished net's curves laid out for TensorBoard's dashboards.

TensorBoard ticks runs by default only when a logdir has at most 40 (its time-series and image
dashboards show nothing until one types a regex otherwise), and it gives each run one colour
across all cards. A sweep has hundreds of nets, so the per-net runs under runs/ (HParams
sessions) cannot be that view. Here a run is a *series*, what a net is in the paper's figures
(`base`, `selffer`, `selffer+`, `transfer`, `transfer+`, `random`, `reduced`, `continued+`: a
base fine-tuned for one more budget), and a tag is a
*card*: `B: top-1 (validation)/n3 r0` holds B3B, B3B+, A3B, A3B+ of replicate 0 and their
reference, baseB, in the five series' colours. Cards are grouped by metric and target; x is the
training step, as everywhere in a workdir. Base nets add their conv1 filters before and after
training (and a card of their own while no other net compares with them); the report adds
its figures (`report` run).

Event files are written once and never appended: one per net (named by its finish time, so a
running TensorBoard meets them in order), one per card for the reference base curve. `update`
writes what is missing and removes what no finished net stands for any more (a retrained net
gets a new file), so calling it after every unit and again from the report is cheap and leaves
the same tree.
"""

import datetime
import glob
import os
import struct
import time

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

from keras_transfer.experiment import results
from keras_transfer.training import history

VIEW = "tensorboard"  # WORKDIR/tensorboard
REPORT_RUN = "report"
# Groups sort by name: target first (capitals sort first), top-1 before the training loss.
# The training sample's top-1 beside the validation one tells the regime (training.regime).
METRICS = (("val_top1", "top-1 (validation)"), ("sample_top1", "top-1 (training sample)"),
           ("loss", "train loss"))
PREFIX = "events.out.tfevents."  # what makes TensorBoard read a file


def view_dir(workdir):
    return os.path.join(workdir, VIEW)


def series(row):
    """The run a net's curves go to: its kind, with + for fine-tuned copies."""
    return row["kind"] + ("+" if row.get("fine_tune") else "")


def group(row):
    """The classes a net is evaluated on, and how many images per class it had."""
    k = row.get("target_per_class")
    return row["target"] + (f", {k} per class" if k else "")


def card(row):
    """Which nets share a card: the same n (or k, or base) of one replicate."""
    if row["kind"] == "base":
        what = "base"
    elif row["kind"] == "reduced":
        what = f"k{row['per_class']}"
    else:
        what = f"n{row['n']}"
    return f"{what} r{row.get('replicate', 0)}"


def reference(row, rows):
    """The base a card compares a net with: the from-scratch net on the same classes, images
    per class and replicate (baseAll for random filters and reduced nets); None if absent."""
    for other in rows:
        if (other["kind"] == "base" and other["target"] == row["target"]
                and other.get("target_per_class") == row.get("target_per_class")
                and other.get("replicate", 0) == row.get("replicate", 0)):
            return other
    return None


def finished_seconds(row):
    """When the net finished, in whole seconds since the epoch (it names its event file)."""
    return int(datetime.datetime.strptime(row["finished_at"], "%Y-%m-%dT%H:%M:%S%z")
               .timestamp())


def planned_files(workdir, rows):
    """{relative path: (kind of content, row, card row)} of every event file the view holds."""
    # Rows without their run directory (results.jsonl copied alone) have no curves to show.
    rows = [r for r in rows if r.get("run_dir") and r.get("finished_at") and os.path.exists(
        os.path.join(workdir, r["run_dir"], history.HISTORY))]
    rows.sort(key=lambda r: (finished_seconds(r), r["run_dir"]))
    files = {}
    for row in rows:
        name = f"{PREFIX}{finished_seconds(row):010d}.{row['run_dir'].replace('/', '-')}"
        files[os.path.join(series(row), name)] = ("net", row, row)
    first_of_card = {}
    for row in rows:
        if row["kind"] != "base":
            first_of_card.setdefault((group(row), card(row)), row)
    referenced = set()
    for first in first_of_card.values():
        base = reference(first, rows)
        if base is not None:
            referenced.add(base["run_dir"])
            files[os.path.join("base", card_file(first))] = ("reference", base, first)
    # A base no card compares with yet (a base-only sweep, or before its dependants) gets a
    # card of its own; it goes once the base appears beside its dependants.
    for row in rows:
        if row["kind"] == "base" and row["run_dir"] not in referenced:
            files[os.path.join("base", card_file(row))] = ("reference", row, row)
    if rows:
        first = rows[0]
        name = f"{PREFIX}{finished_seconds(first):010d}.learning-rate"
        files[os.path.join(series(first), name)] = ("learning_rate", first, first)
    return files


def card_file(first):
    """The event file of a card's base curve, named by the card's first net."""
    slug = f"{group(first)}-{card(first)}".replace(", ", "-").replace(" ", "-")
    return f"{PREFIX}{finished_seconds(first):010d}.reference-{slug}"


def scalar_events(workdir, row, card_row, keys):
    """The scalar events of `row`'s history under `card_row`'s tags; keys: (history key, tag)."""
    rows = history.read_history(os.path.join(workdir, row["run_dir"], history.HISTORY))
    start = finished_seconds(row) - sum(r.get("seconds", 0.0) for r in rows)
    events, elapsed = [], 0.0
    for h in rows:
        elapsed += h.get("seconds", 0.0)
        summary = summary_pb2.Summary()
        for key, tag in keys:
            if h.get(key) is not None:
                summary.value.extend(scalar_summary.scalar_pb(tag, h[key]).value)
        if summary.value:
            events.append(event_pb2.Event(wall_time=start + elapsed, step=h["step"],
                                          summary=summary))
    return events


def metric_keys(card_row):
    return [(key, f"{group(card_row)}: {label}/{card(card_row)}") for key, label in METRICS]


def filter_events(workdir, row):
    """The base's conv1 filter images (written by the runner into its run directory), renamed
    into the view's filter group."""
    tag = f"conv1 filters/{row['net']} r{row.get('replicate', 0)}"
    events = []
    for path in sorted(glob.glob(os.path.join(glob.escape(os.path.join(
            workdir, row["run_dir"])), PREFIX + "*"))):
        for event in event_file_loader.EventFileLoader(path).Load():
            for value in event.summary.value:
                if value.tag == "conv1_filters":
                    copy = summary_pb2.Summary.Value()
                    copy.CopyFrom(value)
                    copy.tag = tag
                    events.append(event_pb2.Event(wall_time=event.wall_time, step=event.step,
                                                  summary=summary_pb2.Summary(value=[copy])))
    return events


def events_for(workdir, what, row, card_row):
    if what == "net":  # a base's curves are in its cards' reference files
        events = [] if row["kind"] == "base" else scalar_events(workdir, row, row,
                                                                 metric_keys(row))
        if row["kind"] in ("base", "reduced"):
            events += filter_events(workdir, row)
        return events
    if what == "reference":
        return scalar_events(workdir, row, card_row, metric_keys(card_row))
    return scalar_events(workdir, row, row, [("learning_rate", "learning rate/schedule")])


def write_events(path, events):
    """An event file written whole under a temporary name, then renamed into place."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), ".writing")
    with open(tmp, "wb") as f:
        writer = RecordWriter(f)
        header = event_pb2.Event(wall_time=events[0].wall_time if events else 0.0,
                                 file_version="brain.Event:2")
        for event in [header, *events]:
            writer.write(event.SerializeToString())
        writer.flush()
    os.replace(tmp, path)


def update(workdir, rows=None):
    """Writes the view's missing event files and removes those of nets no longer finished.
    rows: the workdir's results rows (default: read from results.jsonl). Returns the number of
    files written."""
    if rows is None:
        rows = results.read_results(workdir)
    root = view_dir(workdir)
    planned = planned_files(workdir, rows)
    written = 0
    for relative, (what, row, card_row) in planned.items():
        path = os.path.join(root, relative)
        if not os.path.exists(path):
            write_events(path, events_for(workdir, what, row, card_row))
            written += 1
    for path in glob.glob(os.path.join(glob.escape(root), "*", PREFIX + "*")):
        relative = os.path.relpath(path, root)
        if relative not in planned and not relative.startswith(REPORT_RUN + os.sep):
            os.remove(path)
    return written


def png_size(png):
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


def remove_events(logdir):
    """Removes the event files directly in `logdir`."""
    for old in glob.glob(os.path.join(glob.escape(logdir), PREFIX + "*")):
        os.remove(old)


def write_images(logdir, pngs, step):
    """One image summary per figure ({name: PNG path}) in `logdir`, replacing its earlier
    event files: the report's figures, at the sweep's last training step."""
    os.makedirs(logdir, exist_ok=True)
    remove_events(logdir)
    summary = summary_pb2.Summary()
    for name, path in pngs.items():
        with open(path, "rb") as f:
            png = f.read()
        width, height = png_size(png)
        tensor = tensor_util.make_tensor_proto([str(width).encode(), str(height).encode(), png])
        summary.value.add(tag=f"figures/{name}", tensor=tensor,
                          metadata=image_metadata.create_summary_metadata(
                              display_name=name, description=""))
    now = time.time()
    write_events(os.path.join(logdir, f"{PREFIX}{int(now):010d}.report"),
                 [event_pb2.Event(wall_time=now, step=step, summary=summary)])
