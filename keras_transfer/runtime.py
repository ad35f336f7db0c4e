"""A process's TensorFlow runtime: imported without its banners, and its thread counts and op
determinism set before the first op runs. The sweep's commands and its worker processes
(experiment.workers) set it up the same way."""

import os
import sys
import tempfile

# What TensorFlow's C++ runtime writes to stderr on every import, before Python can filter
# it (TF_CPP_MIN_LOG_LEVEL does not reach these): the oneDNN notice, the CPU-feature banner.
IMPORT_BANNERS = ("All log messages before absl::InitializeLog()", "oneDNN custom operations",
                  "cpu_feature_guard", "To enable the following instructions",
                  "rebuild TensorFlow with the appropriate compiler flags")


def import_tensorflow_quietly():
    """Imports TensorFlow with its import banners dropped; anything else it writes to stderr
    then (a real warning, the reason an import fails) is passed on."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(
                line for line in lines if not any(b in line for b in IMPORT_BANNERS)))
            sys.stderr.flush()


def configure(intra_op=0, inter_op=0, deterministic=False):
    """TensorFlow's thread counts (0: its own choice) and op determinism; only before the
    first op runs."""
    if not (intra_op or inter_op or deterministic):
        return
    import_tensorflow_quietly()
    import tensorflow as tf
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    if inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
