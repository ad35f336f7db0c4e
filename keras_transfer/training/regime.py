"""Which regime a net ended in, from its history rows: a pure function, beside the convergence
diagnostic.

The paper's bases sat on an overfitting plateau: training loss falling, validation loss rising
for the last two thirds of the run while validation top-1 stood still. A copy of such a
net has nothing left to gain from more training; a copy of a net still fitting its data gains
whatever its base had left (BUILD_NOTES.md, "The paper's regime"). Each history row holds the
validation loss and top-1 and the loss and top-1 on a fixed, un-augmented sample of the net's
own training images (`sample_loss`, `sample_top1`; data.Dataset.train_sample).

  overfitting plateau: the validation loss reached its minimum before the last fifth of the
    evaluations (it has been rising or flat since that step: the paper's bases, lowest near
    150k of 450k iterations) while the net fits its training sample far better than the
    validation set (top-1 gap >= MIN_GAP at the end);
  still fitting: either fails (the reason says which);
  unknown: rows without the sample (nets from before the diagnostic) or fewer than
    convergence.MIN_EVALUATIONS evaluations.

The training-sample top-1 is reported beside it: the paper's ImageNet bases did not memorise
their 1.2M images, so memorising is not the test; the turned validation loss and the gap are.
"""

from keras_transfer.training import convergence

# Training-sample top-1 minus validation top-1: a net this much better on what it trained on
# has learned its sample beyond what carries over (the embedded default's bases: 0.3-0.4; a
# still-fitting one: within a few points).
MIN_GAP = 0.2
PLATEAU, FITTING, UNKNOWN = "overfitting plateau", "still fitting", "unknown"
REGIMES = (PLATEAU, FITTING, UNKNOWN)


def diagnose(rows):
    """A dict for result.json and the results row, from history rows in order: regime, reason,
    sample_top1 and val_top1 (last evaluation), gap (their difference), val_loss_min_step (the
    step of the lowest validation loss), evaluations."""
    rows = [r for r in rows if r.get("sample_top1") is not None]
    out = {"regime": UNKNOWN, "reason": "no training-sample evaluations", "sample_top1": None,
           "val_top1": None, "gap": None, "val_loss_min_step": None, "evaluations": len(rows)}
    if len(rows) < convergence.MIN_EVALUATIONS:
        if rows:
            out["reason"] = f"{len(rows)} evaluations (fewer than {convergence.MIN_EVALUATIONS})"
        return out
    last = rows[-1]
    lowest = min(range(len(rows)), key=lambda i: (rows[i]["val_loss"], i))
    tail_from = len(rows) - max(1, round(len(rows) * convergence.FIFTH))
    gap = float(last["sample_top1"] - last["val_top1"])
    overfit = gap >= MIN_GAP
    loss_turned = lowest < tail_from
    out.update(sample_top1=round(float(last["sample_top1"]), 4),
               val_top1=round(float(last["val_top1"]), 4), gap=round(gap, 4),
               val_loss_min_step=rows[lowest]["step"])
    if overfit and loss_turned:
        out.update(regime=PLATEAU, reason=(
            f"training top-1 {last['sample_top1']:.2f}, validation {last['val_top1']:.2f}, "
            f"validation loss rising since step {rows[lowest]['step']}"))
    else:
        why = []
        if not loss_turned:
            why.append(f"validation loss still falling (lowest at step {rows[lowest]['step']} "
                       f"of {last['step']})")
        if not overfit:
            why.append(f"training top-1 {last['sample_top1']:.2f}, only {gap:+.2f} over "
                       f"validation (< {MIN_GAP})")
        out.update(regime=FITTING, reason="; ".join(why))
    return out
