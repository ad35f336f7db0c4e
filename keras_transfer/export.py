"""Exports a trained net as a TF SavedModel that serves raw images.

The SavedModel has two signatures: `serving_default` takes uint8 images [N, H, W, 3] of any size,
`serve_float` takes float32 images in 0..255; both resize, centre-crop and subtract the training
mean exactly as evaluation does, and return class probabilities [N, num_classes].

    python -m keras_transfer.export --run_dir=runs/natural_manmade/runs/r0/A3B+
"""

import os
import sys

from absl import app, flags

from keras_transfer import cli, files
from keras_transfer.experiment import rundir
from keras_transfer.nets import alexnet, saved_model, transfer  # noqa: F401 (alexnet: its layers)


class ExportError(RuntimeError):
    """A run directory cannot be exported (missing, unfinished or damaged) or --out is unwritable."""


def export_run(run_dir, out=None):
    """Exports the finished net in `run_dir` (its model.keras and manifest) as a SavedModel."""
    what = "--run_dir must be a finished net's run directory (WORKDIR/runs/r<i>/<net>)"
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ExportError(f"{run_dir} is a file, not a run directory: {what}")
    if not os.path.isdir(run_dir):
        raise ExportError(f"{run_dir} not found: {what}")
    result = files.read_json(os.path.join(run_dir, "result.json"))
    manifest = files.read_json(os.path.join(run_dir, "manifest.json"))
    if manifest is None:
        raise ExportError(f"{run_dir}/manifest.json is missing or unreadable: {what}")
    if result is None:
        raise ExportError(f"{run_dir} has not finished (no readable result.json); rerun its "
                          "sweep to finish it, then export")
    if result.get("status", "ok") != "ok":
        raise ExportError(f"{run_dir} finished as {result['status']!r} (its loss blew up); "
                          "there is no trained net to export")
    mean = manifest.get("data", {}).get("mean") if isinstance(manifest.get("data"), dict) else None
    if mean is None:
        raise ExportError(f"{run_dir}/manifest.json has no data mean; it was not written by "
                          "keras_transfer.sweep")
    model_path = os.path.join(run_dir, rundir.MODEL)
    if not os.path.exists(model_path):
        raise ExportError(f"{model_path} is missing although the run finished; the run directory "
                          "is damaged: delete it and rerun the sweep to retrain that net")
    try:
        model = transfer.load_source(model_path)
    except transfer.TransferError as e:
        raise ExportError(str(e)) from e
    path = out or os.path.join(run_dir, saved_model.SAVED_MODEL)
    try:
        os.makedirs(path, exist_ok=True)
        return saved_model.export_saved_model(model, path, mean, manifest.get("class_names"))
    except OSError as e:
        raise ExportError(f"cannot write the SavedModel to {path}: {e}; pick another --out")


FLAGS = flags.FLAGS


def define_flags():
    # Defined only when run as a command, so importing this module adds no flags to others.
    flags.DEFINE_string("run_dir", None, "A finished net's run directory (WORKDIR/runs/r<i>/<net>).")
    flags.DEFINE_string("out", None, "Where to write the SavedModel (default RUN_DIR/saved_model).")


def main(argv):
    cli.no_arguments(argv, "--run_dir=WORKDIR/runs/r0/baseA")
    if not FLAGS.run_dir:
        sys.exit("error: --run_dir is required (a finished net's directory WORKDIR/runs/r<i>/<net>)")
    try:
        path = export_run(FLAGS.run_dir, FLAGS.out)
    except (ExportError, *cli.user_errors()) as e:
        sys.exit(f"error: {e}")
    print(f"exported {path}")


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=cli.parse_flags)
