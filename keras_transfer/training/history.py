"""A net's history.jsonl (one row per evaluation) and the result read from it: final and
best-10 top-1 (the paper's metric), top-5, the convergence diagnostic, or "diverged"."""

import json
import os

import numpy as np

from keras_transfer.training import convergence, regime

HISTORY = "history.jsonl"  # in each net's run directory


def write_history_row(path, epoch, eval_every, seconds, metrics):
    """Sets evaluation `epoch`'s row of history.jsonl (later rows, from a cut-short run that is
    being redone, are dropped); the file is replaced atomically."""
    rows = [r for r in read_history(path) if r["epoch"] < epoch]
    rows.append({"epoch": epoch, "step": (epoch + 1) * eval_every, "seconds": seconds,
                 **metrics})
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    os.replace(tmp, path)


class DamagedHistory(ValueError):
    """A history.jsonl that cannot be read, or holds fewer evaluations than its run finished."""


def read_history(path):
    if not os.path.exists(path):
        return []
    rows = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict) or "epoch" not in row:
                raise DamagedHistory(
                    f"{path}:{lineno} is damaged (not an evaluation record); delete "
                    f"{os.path.dirname(path)} and rerun the sweep to retrain that net (finished "
                    "nets are kept)")
            rows.append(row)
    return rows


def best_k_mean(values, k=10):
    """The paper's metric: the mean of the k highest values (all of them if fewer)."""
    top = sorted(values, reverse=True)[:k]
    return float(np.mean(top)) if top else float("nan")




def diverged_result(run_dir, config, step, loss):
    """The result of a net stopped at `step` because its loss blew up: status "diverged", no
    accuracy (the report lists it and averages it nowhere)."""
    rows = read_history(os.path.join(run_dir, HISTORY))
    curve = [h["val_top1"] for h in rows]
    return {
        "status": "diverged", "diverged_at_step": step, "diverged_loss": loss,
        "top1": None, "top1_best10": None, "top5": None, "converged": False,
        "convergence": convergence.diagnose(curve), "regime": regime.diagnose(rows),
        "steps": config.steps,
        "train_seconds": None,
    }


def result_from_history(run_dir, config):
    """A finished net's result from its history.jsonl: final and best-10 top-1, top-5, the
    convergence diagnostic of its validation curve, the regime diagnostic (training.regime),
    steps and training seconds."""
    history = read_history(os.path.join(run_dir, HISTORY))
    if len(history) < config.epochs:
        raise DamagedHistory(
            f"{run_dir}/{HISTORY} holds {len(history)} of the {config.epochs} evaluations "
            f"its training ran (the file was truncated or replaced); delete {run_dir} and rerun "
            "the sweep to retrain that net (finished nets are kept)")
    last, curve = history[-1], [h["val_top1"] for h in history]
    diagnostic = convergence.diagnose(curve)
    # A blown-up net leaves chance-level numbers that look like a result: mark them.
    diverged = any(blown_up(h.get(key, 0.0)) for h in history for key in ("loss", "val_loss"))
    return {
        "status": "diverged" if diverged else "ok",
        "top1": last["val_top1"],
        "top1_best10": best_k_mean(curve),
        "top5": last.get("val_top5"),
        "converged": diagnostic["converged"],
        "convergence": diagnostic,
        "regime": regime.diagnose(history),
        "steps": config.steps,
        "train_seconds": round(sum(h["seconds"] for h in history), 3),
    }


# A cross-entropy of 1,000 puts e^-1000 on the true class: logits (and, with weight decay in the
# loss, weights) in the thousands. No training net gets there (a fresh one starts at ln(classes),
# 6.9 for 1,000 classes); a run with a negative learning rate reached 1e11 while staying finite.
DIVERGED_LOSS = 1e3


def blown_up(loss):
    """Whether a logged loss says the net diverged: not finite, or above DIVERGED_LOSS."""
    return loss is None or not np.isfinite(loss) or loss > DIVERGED_LOSS
