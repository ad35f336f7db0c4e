r"""Layer diagnostics of a finished sweep: how transferable each cut point's features are
predicted to be, without training a transfer net.

    python -m keras_transfer.diagnose --workdir=runs/natural_manmade
    python -m keras_transfer.diagnose --workdir=runs/natural_manmade --replicate=0 --direction=both

For each replicate's base A (direction AB), its features at each n on half B's training images
give the transferability scores (LogME, H-score, shrinkage H-score, and the k-NN and
linear-probe accuracies tested on half B's validation images), its own head gives LEEP and NCE,
and linear and debiased CKA compare base A's features with base B's at each n on half B's
validation images (BA: the same with the halves swapped). Where the workdir holds measured
A<n>B and A<n>B+ nets, each score is graded by how well its ranking of n agrees with theirs.
Writes WORKDIR/diagnostics/scores.json and scores.md; the recommended cut point is a
prediction of the best-graded score, never a measurement.
"""

import os
import sys
import time

from absl import app, flags, logging

from keras_transfer import catalog, cli, files, runtime

FLAGS = flags.FLAGS
DIRECTIONS = {"AB": ("AB",), "BA": ("BA",), "both": ("AB", "BA")}
OUT = "diagnostics"
# How the tables and the console name each score.
LABELS = {"logme": "LogME", "h_score": "H-score", "shrinkage_h_score": "shrinkage H",
          "knn": "k-NN", "linear_probe": "linear probe", "cka": "CKA",
          "debiased_cka": "debiased CKA", "leep": "LEEP", "nce": "NCE"}


def define_flags():
    flags.DEFINE_string("workdir", None, "A sweep's workdir: it holds sweep.json and the bases "
                        "runs/r<i>/baseA and baseB.")
    flags.DEFINE_integer("replicate", None, "Only this replicate's bases (default: every "
                         "replicate the sweep ran; grading needs 2 or more for an interval).")
    flags.DEFINE_string("direction", "AB", "AB: base A's features scored on half B (what A<n>B "
                        "and A<n>B+ measure); BA: base B's on half A; both.")
    flags.DEFINE_string("layers", "", "The cut points n to score ('all', '1-7', '1,3'); "
                        "default: the n the sweep trained nets at (every n if only bases).")
    flags.DEFINE_string("data_dir", None, "TFDS data dir, as the sweep was given.")
    flags.DEFINE_integer("train_images", 1024, "Training images of the target half the scores "
                         "read: the first ceil(N / classes) of each class (data.Source."
                         "train_sample).", lower_bound=2)


def check_workdir(workdir, replicate, direction):
    """(sweep.json's settings, replicates, directions): the user's mistakes refused before
    anything is loaded or written."""
    if not workdir:
        raise ValueError("pass --workdir, the workdir of a finished sweep "
                         "(e.g. --workdir=runs/natural_manmade)")
    from keras_transfer.experiment import rundir
    recorded = files.read_json(os.path.join(workdir, rundir.SWEEP))
    if recorded is None:
        raise ValueError(f"{workdir} has no readable {rundir.SWEEP}, so it is not a sweep's "
                         "workdir; pass the --workdir a sweep ran in (python -m "
                         "keras_transfer.sweep --workdir=...)")
    count = int(recorded.get("replicates", 1))
    if replicate is not None and not 0 <= replicate < count:
        raise ValueError(f"--replicate={replicate} is out of range: {workdir} ran replicates "
                         f"0..{count - 1}")
    if direction not in DIRECTIONS:
        raise ValueError(f"--direction={direction!r} is unknown; use AB (base A's features on "
                         "half B), BA or both")
    replicates = [replicate] if replicate is not None else list(range(count))
    return recorded, replicates, DIRECTIONS[direction]


def check_bases(workdir, replicates, recorded):
    """{(replicate, half): model path} of every base the diagnostics read, or the error naming
    the first one missing and the command that trains it."""
    from keras_transfer.experiment import rundir
    paths = {}
    for r in replicates:
        for half in "AB":
            path = os.path.join(rundir.run_dir_of(workdir, f"r{r}/base{half}"), rundir.MODEL)
            if not os.path.exists(path):
                raise ValueError(
                    f"{path} is missing: base{half} of replicate {r} has not finished. Train "
                    f"the bases with the sweep's own flags: python -m keras_transfer.sweep "
                    f"--workdir={workdir} --experiments=base "
                    f"--replicates={recorded.get('replicates', 1)} (and the --flagfile the "
                    "sweep ran with)")
            paths[(r, half)] = path
    return paths


def sweep_split(rows, workdir):
    """(split, split_seed, split fingerprint) the workdir's nets trained on (one per workdir)."""
    for row in rows:
        if row.get("split") is not None:
            return row["split"], row.get("split_seed"), row.get("split_fingerprint")
    raise ValueError(f"{workdir}/results.jsonl names no split: no net has finished; run the "
                     "sweep first")


def layers_of(text, rows, model):
    """The n to score: --layers, else those of the sweep's nets, else every cut point."""
    from keras_transfer.experiment import plan
    if text:
        return plan.parse_layers(text, model)
    trained = sorted({int(r["n"]) for r in rows
                      if r.get("kind") not in ("base", "reduced", "continued")
                      and 1 <= int(r.get("n") or 0) <= catalog.max_n(model)})
    return trained or plan.parse_layers("all", model)


def diagnose(workdir, replicate=None, direction="AB", layers="", data_dir=None,
             train_images=1024):
    """Scores, CKA, grading and recommendation of a finished sweep's bases; writes
    WORKDIR/diagnostics/scores.{json,md} and returns scores.md's text."""
    start = time.time()
    recorded, replicates, directions = check_workdir(workdir, replicate, direction)
    from keras_transfer.experiment import results, setup
    from keras_transfer.nets import transfer
    from keras_transfer.reporting import predictors
    paths = check_bases(workdir, replicates, recorded)
    rows = results.read_results(workdir)
    split_name, split_seed, fingerprint = sweep_split(rows, workdir)
    model_name = recorded["model"]
    ns = layers_of(layers, rows, model_name)
    # float32: the new pooling layers average in full precision; the bases keep their policy.
    source, split = setup.open_data(workdir, recorded["dataset"], data_dir, split_name,
                                    split_seed or 0, mixed_precision=False)
    if fingerprint and split.fingerprint != fingerprint:
        raise ValueError(f"the classes of --split={split_name} on {recorded['dataset']} are "
                         f"not those {workdir}'s nets trained on (fingerprint "
                         f"{split.fingerprint}, the nets' {fingerprint}); pass the --data_dir "
                         "the sweep used")
    print(f"diagnose {workdir}: {model_name} on {recorded['dataset']}, split {split_name}; "
          f"replicates {replicates}, directions {', '.join(directions)}, n = "
          f"{','.join(map(str, ns))}", flush=True)
    score_rows, heads = [], []
    for r in replicates:
        models = {half: transfer.load_source(paths[(r, half)]) for half in "AB"}
        for d in directions:
            got, head = diagnose_direction(models, d, r, ns, source, split, recorded,
                                           train_images)
            score_rows += got
            heads.append(head)
    grades = predictors.grade(score_rows, rows)
    recommendations = {d: predictors.recommend(grades, score_rows, d) for d in directions}
    summary = {"workdir": workdir, "model": model_name, "dataset": recorded["dataset"],
               "split": split_name, "replicates": replicates, "directions": list(directions),
               "layers": ns, "train_images": train_images, "scores": score_rows,
               "heads": heads, "grading": grades, "recommendations": recommendations,
               "seconds": round(time.time() - start, 1)}
    text = markdown(summary)
    out = os.path.join(workdir, OUT)
    os.makedirs(out, exist_ok=True)
    files.write_json(os.path.join(out, "scores.json"), summary)
    files.write_text(os.path.join(out, "scores.md"), text)
    return text


def diagnose_direction(models, direction, replicate, ns, source, split, recorded,
                       train_images):
    """(score rows, head row) of base <direction[0]>'s features on half <direction[1]>."""
    from keras_transfer.diagnostics import cka, layer_scores
    from keras_transfer.diagnostics import features as F
    from keras_transfer.experiment.config import EVAL_BATCH
    base, target = direction
    classes = split.half(target)
    if len(classes) < 2:
        raise ValueError(f"half {target} of split {split.kind} has {len(classes)} class(es); "
                         f"direction {direction} needs a target half of 2 or more")
    model = models[base]
    size = int(model.input_shape[1])
    train = source.train_sample(classes, EVAL_BATCH, size, recorded.get("train_per_class"),
                                size=train_images)
    test = source.eval(classes, EVAL_BATCH, size)
    print(f"r{replicate} {direction}: base {base}'s features on half {target} "
          f"({len(classes)} classes)", flush=True)
    # CKA against the target's own base on the same validation images: does base A at n
    # compute what base B computes there?
    mine, _ = F.features(model, ns, test)
    theirs, _ = F.features(models[target], ns, test)
    similarity = {n: {"cka": _or_none(cka.linear_cka, mine[n], theirs[n]),
                      "debiased_cka": _or_none(cka.debiased_cka, mine[n], theirs[n])}
                  for n in ns}

    def progress(row):
        print(f"  n={row['n']}  " + "  ".join(
            f"{LABELS[k]} {_number(row[k])}" for k in layer_scores.LAYER_SCORES)
            + f"  CKA {_number(similarity[row['n']]['cka'])}  ({row['seconds']:.1f} s)",
            flush=True)

    rows = layer_scores.score_layers(model, ns, train, test, progress)
    head = {"replicate": replicate, "direction": direction,
            **layer_scores.score_head(model, train)}
    return [{"replicate": replicate, "direction": direction, **row, **similarity[row["n"]]}
            for row in rows], head


def _or_none(cka_of, x, y):
    """CKA, or None where it is undefined (a layer that does not vary over these images)."""
    try:
        return cka_of(x, y)
    except ValueError as e:
        logging.warning("CKA undefined: %s", e)
        return None


def _number(value):
    return "—" if value is None else f"{value:.4g}"


def _interval(grade, name):
    mean, low, high = grade[name], grade[f"{name}_low"], grade[f"{name}_high"]
    if mean is None:
        return "—"
    return f"{mean:+.2f}" + (f" [{low:+.2f}, {high:+.2f}]" if low is not None else "")


def markdown(summary):
    """scores.md: the scores by n, the head scores, the grading and the recommendation."""
    from keras_transfer.diagnostics.layer_scores import HEAD_SCORES, LAYER_SCORES
    from keras_transfer.reporting.findings import markdown_table
    columns = (*LAYER_SCORES, "cka", "debiased_cka")
    lines = [f"# Layer diagnostics of {summary['workdir']}", "",
             f"{summary['model']} on {summary['dataset']}, split {summary['split']}. Scores "
             f"read each base's features on the other half's first {summary['train_images']} "
             "training images (k-NN and linear probe tested on its validation images), CKA "
             "compares the two bases on those validation images. Every number here is a "
             "prediction from the bases, not a measured transfer net.", "",
             "## Scores by cut point", ""]
    lines += markdown_table(["replicate", "direction", "n", *(LABELS[c] for c in columns)],
                            [[s["replicate"], s["direction"], s["n"],
                              *(_number(s.get(c)) for c in columns)]
                             for s in summary["scores"]])
    lines += ["## The source head (one number per base, whatever n)", ""]
    lines += markdown_table(["replicate", "direction", *(LABELS[h] for h in HEAD_SCORES)],
                            [[h["replicate"], h["direction"], *(_number(h[k]) for k in
                                                                HEAD_SCORES)]
                             for h in summary["heads"]])
    lines += ["## Grading against the measured transfer nets", ""]
    if summary["grading"]:
        lines += ["Kendall tau and Spearman rho between each score and the measured top-1 "
                  "(best-10) over n, per replicate (directions averaged), mean [95 % interval "
                  "over replicates]; best n: the score's argmax over n against the measured "
                  "one, on the mean curves; hits: the replicate and direction curves where "
                  "they agree.", ""]
        lines += markdown_table(
            ["score", "measured", "Kendall tau", "Spearman rho", "best n (score / measured)",
             "hits"],
            [[LABELS[g["score"]], g["measured"], _interval(g, "tau"), _interval(g, "rho"),
              f"{g['score_best_n']} / {g['measured_best_n']}"
              + (" ✓" if g["picks_best"] else ""), f"{g['hits']} of {g['units']}"]
             for g in summary["grading"]])
    else:
        lines += ["Not graded: the workdir has no measured A<n>B / A<n>B+ nets at two or more "
                  "of these n (run the sweep's transfer experiment, then diagnose again).", ""]
    lines += ["## Recommendation (a prediction, not a measurement)", ""]
    for direction, rec in summary["recommendations"].items():
        if rec is None:
            continue
        base, target = direction
        blocks = "block 1" if rec["n"] == 1 else f"blocks 1..{rec['n']}"
        lines.append(f"- {direction}: copy {blocks} of base {base} to half "
                     f"{target}, {rec['strategy']} ({LABELS[rec['score']]}'s pick; "
                     f"{rec['reason']}).")
    return "\n".join(lines + ["", f"Computed in {summary['seconds']} s.", ""])


def main(argv):
    cli.no_arguments(argv, "--workdir=runs/natural_manmade")
    logging.set_verbosity(logging.WARNING)
    runtime.import_tensorflow_quietly()
    try:
        text = diagnose(FLAGS.workdir, FLAGS.replicate, FLAGS.direction, FLAGS.layers,
                        FLAGS.data_dir, FLAGS.train_images)
    except cli.user_errors() as e:
        sys.exit(f"error: {e}")
    print(text)
    print(f"wrote {os.path.join(FLAGS.workdir, OUT, 'scores.json')} and scores.md")


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=cli.parse_flags)
