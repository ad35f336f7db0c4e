r"""Layer diagnostics of a finished sweep: how transferable each cut point's features are
predicted to be, without training a transfer net.

    python -m keras_transfer.diagnose --workdir=runs/natural_manmade
    python -m keras_transfer.diagnose --workdir=runs/natural_manmade --replicate=0 --direction=both

For each replicate's base A (direction AB), its features at each n on half B's training images
(and on K per class for each K of the dataset-size study) give the transferability scores, its
head LEEP and NCE, and CKA compares the nets' layers; each score is graded against the measured
A<n>B and A<n>B+ nets. Writes WORKDIR/diagnostics/scores.{json,md}; a recommendation predicts.

For a new dataset, a trained net of --model scored on the dataset's classes (or one half of a
--split), graded by the sweeps it can see (--graded, default every runs/*/diagnostics):

    python -m keras_transfer.diagnose --pretrained=runs/natural_manmade/runs/r0/baseA/model.keras \
        --dataset=folder:/data/flowers --out_dir=runs/diagnose_flowers
"""

import os
import sys
import time

from absl import app, flags, logging

from keras_transfer import catalog, cli, files, runtime

FLAGS = flags.FLAGS
DIRECTIONS = {"AB": ("AB",), "BA": ("BA",), "both": ("AB", "BA")}
OUT = "diagnostics"


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
    flags.DEFINE_string("pretrained", None, "Instead of --workdir: a trained net of --model (a "
                        ".keras file) whose features are scored on --dataset's classes.")
    cli.old_name("source", "pretrained")
    flags.DEFINE_string("model", "caffenet_mini", "With --pretrained: the net's architecture.")
    flags.DEFINE_string("dataset", "synthetic", "With --pretrained: the target data, 'synthetic', "
                        "'folder:PATH' (PATH/train/<class>/, PATH/val/<class>/) or 'tfds:NAME'.")
    flags.DEFINE_string("split", "none", "With --pretrained: 'none' (every class is the target) "
                        "or a split (natural_manmade, random, FILE.json), --half the target.")
    flags.DEFINE_enum("half", "B", ["A", "B"], "With --pretrained and --split: the target half.")
    flags.DEFINE_string("out_dir", None, "With --pretrained: where scores.{json,md} go.")
    flags.DEFINE_list("graded", None, "With --pretrained: the workdirs whose diagnostics grade "
                      "the scores (default: every runs/*/ with diagnostics/scores.json).")
    flags.DEFINE_integer("train_images", 1024, "Training images of the target the scores "
                         "read: the first ceil(N / classes) of each class.", lower_bound=2)


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
    dataset, split = setup.open_data(workdir, recorded["dataset"], data_dir, split_name,
                                    split_seed or 0, mixed_precision=False)
    if fingerprint and split.fingerprint != fingerprint:
        raise ValueError(f"the classes of --split={split_name} on {recorded['dataset']} are "
                         f"not those {workdir}'s nets trained on (fingerprint "
                         f"{split.fingerprint}, the nets' {fingerprint}); pass the --data_dir "
                         "the sweep used")
    print(f"diagnose {workdir}: {model_name} on {recorded['dataset']}, split {split_name}; "
          f"replicates {replicates}, directions {', '.join(directions)}, n = "
          f"{','.join(map(str, ns))}", flush=True)
    # The dataset-size study's K (--target_per_class): the scores again on K images per class,
    # graded against the transfer nets trained on K.
    sizes = [None, *sorted({int(r["target_per_class"]) for r in rows
                            if r.get("target_per_class") and r.get("kind") == "transfer"})]
    score_rows, heads, bases = [], [], {}
    for r in replicates:
        bases.update({(r, f"base{half}"): transfer.load_source(paths[(r, half)])
                      for half in "AB"})
        for d in directions:
            got, head = diagnose_direction(bases, d, r, ns, dataset, split, recorded,
                                           train_images, sizes)
            score_rows += got
            heads.append(head)
    similarity_rows, matrices = compare(workdir, bases, replicates, directions, ns, dataset,
                                        split)
    on_diagonal = {(s["replicate"], s["direction"], s["n"]): s for s in similarity_rows
                   if s["pair"] == "halves"}
    for row in score_rows:  # the two bases' similarity at n is graded as a predictor too
        found = on_diagonal[(row["replicate"], row["direction"], row["n"])]
        row.update(cka=found["cka"], debiased_cka=found["debiased_cka"])
    grades = predictors.grade(score_rows, rows)
    recommendations = {d: predictors.recommend(grades, score_rows, d) for d in directions}
    summary = {"workdir": workdir, "model": model_name, "dataset": recorded["dataset"],
               "split": split_name, "replicates": replicates, "directions": list(directions),
               "layers": ns, "train_images": train_images, "scores": score_rows,
               "heads": heads, "similarity": similarity_rows, "matrices": matrices,
               "grading": grades, "recommendations": recommendations,
               "seconds": round(time.time() - start, 1)}
    from keras_transfer.reporting import layer_diagnostics as L
    text = L.scores_markdown(summary, (
        f"# Layer diagnostics of {workdir}",
        f"{model_name} on {recorded['dataset']}, split {split_name}. Scores read each base's "
        f"features on the other half's first {train_images} training images (k-NN and linear "
        "probe tested on its validation images), CKA compares the two bases on those "
        "validation images. Every number here is a prediction from the bases, not a measured "
        "transfer net."))
    out = os.path.join(workdir, OUT)
    os.makedirs(out, exist_ok=True)
    files.write_json(os.path.join(out, "scores.json"), summary)
    files.write_text(os.path.join(out, "scores.md"), text)
    return text


def diagnose_direction(bases, direction, replicate, ns, dataset, split, recorded,
                       train_images, sizes=(None,)):
    """(score rows, head row) of base <direction[0]>'s features on half <direction[1]>, on K
    training images per class for each K of `sizes` (None: all the sweep trained on)."""
    from keras_transfer.diagnostics import features as F
    from keras_transfer.diagnostics import layer_scores
    from keras_transfer.experiment.config import EVAL_BATCH
    from keras_transfer.reporting import layer_diagnostics as L
    base, target = direction
    classes = split.half(target)
    if len(classes) < 2:
        raise ValueError(f"half {target} of split {split.kind} has {len(classes)} class(es); "
                         f"direction {direction} needs a target half of 2 or more")
    model = bases[(replicate, f"base{base}")]
    size = int(model.input_shape[1])
    test = F.features(model, ns, dataset.eval(classes, EVAL_BATCH, size))

    def progress(row):
        print(f"  n={row['n']}  " + "  ".join(
            f"{L.LABELS[name]} {L.number(row[name])}" for name in layer_scores.LAYER_SCORES)
            + f"  ({row['seconds']:.1f} s)", flush=True)

    rows, head = [], None
    for k in sizes:
        per_class = min(filter(None, (k, recorded.get("train_per_class"))), default=None)
        train = dataset.train_sample(classes, EVAL_BATCH, size, per_class, size=train_images)
        print(f"r{replicate} {direction}: base {base}'s features on half {target} "
              f"({len(classes)} classes{f', K = {k}' if k else ''})", flush=True)
        rows += [{"replicate": replicate, "direction": direction, "target_per_class": k, **row}
                 for row in layer_scores.score_extracted(
                     ns, F.features(model, ns, train), test, progress)]
        if k is None:  # the head reads every image the sweep trained on
            head = {"replicate": replicate, "direction": direction,
                    **layer_scores.score_head(model, train)}
    return rows, head


def compare(workdir, bases, replicates, directions, ns, dataset, split):
    """(CKA rows, the halves' layer x layer matrices) of `diagnostics.similarity`: the bases
    across halves and replicates, and every fine-tuned A<n>B+ / B<n>B+ net the workdir holds
    against the base it was copied from."""
    from keras_transfer.diagnostics import similarity
    from keras_transfer.experiment import rundir
    from keras_transfer.experiment.config import EVAL_BATCH
    from keras_transfer.nets import transfer
    size = int(next(iter(bases.values())).input_shape[1])

    def load(replicate, name):
        if (replicate, name) in bases:
            return bases[(replicate, name)]
        path = os.path.join(rundir.run_dir_of(workdir, f"r{replicate}/{name}"), rundir.MODEL)
        return transfer.load_source(path) if os.path.exists(path) else None

    start = time.time()
    found = similarity.Comparisons(load, lambda half: dataset.eval(split.half(half), EVAL_BATCH,
                                                                  size), ns)
    rows, matrices = found.rows(replicates, directions)
    print(f"CKA: {len(rows)} comparisons ({', '.join(similarity.PAIRS)}) in "
          f"{time.time() - start:.0f} s", flush=True)
    return rows, matrices


def check_pretrained(path, model_name):
    """The net at `path`, refused in one line when missing, unreadable or not a --model."""
    from keras_transfer.nets import backbones, transfer
    if not path.endswith(".keras"):
        raise ValueError(f"--pretrained={path}: give a .keras file (model.save), e.g. a base's "
                         "runs/r0/baseA/model.keras")
    catalog.layer_axis(model_name)  # an unknown --model, in one line
    net = transfer.load_source(path, remedy="")
    backbones.check_built_as(net, model_name, f"--pretrained={path}")
    return net


def diagnose_pretrained(path, model_name, dataset, split_spec, half, layers="", data_dir=None,
                        train_images=1024, out_dir=None, graded=None):
    """Scores and CKA of the trained net at `path` on a dataset's classes (or a split's half),
    graded by the workdirs of `graded_workdirs`; writes OUT_DIR/scores.{json,md} and returns
    scores.md's text."""
    from keras_transfer import data
    from keras_transfer.data import splits
    from keras_transfer.diagnostics import features as F
    from keras_transfer.diagnostics import layer_scores, similarity
    from keras_transfer.experiment import plan
    from keras_transfer.experiment.config import EVAL_BATCH
    from keras_transfer.reporting import layer_diagnostics as L
    from keras_transfer.reporting import predictors
    start = time.time()
    ns = plan.parse_layers(layers or "all", model_name)
    grading = L.gradings(graded)
    net = check_pretrained(path, model_name)
    target_data = data.open_dataset(dataset, data_dir)
    names = target_data.info.class_names
    classes = (list(range(len(names))) if split_spec == "none" else splits.resolve(
        split_spec, names, families=target_data.info.families).half(half))
    if len(classes) < 2 or train_images < 2 * len(classes):
        raise ValueError(f"the target has {len(classes)} classes and --train_images="
                         f"{train_images}; the scores need 2 or more classes of at least 2 "
                         f"images each: pass --train_images={2 * max(2, len(classes))} or more")
    size = int(net.input_shape[1])
    train = target_data.train_sample(classes, EVAL_BATCH, size, size=train_images)
    # Extracted once: the scores test on them and CKA compares the source's layers on them.
    test = F.features(net, ns, target_data.eval(classes, EVAL_BATCH, size))
    target = dataset if split_spec == "none" else f"{dataset}, half {half} of {split_spec}"
    print(f"diagnose {path} ({model_name}) on {target}: {len(classes)} classes, n = "
          f"{','.join(map(str, ns))}", flush=True)
    rows = layer_scores.score_extracted(ns, F.features(net, ns, train), test, lambda row: print(
        f"  n={row['n']}  " + "  ".join(f"{L.LABELS[k]} {L.number(row[k])}"
                                        for k in layer_scores.LAYER_SCORES), flush=True))
    rows = [{"replicate": "—", "direction": "source→target", **row} for row in rows]
    # Only the scores a lone net gives (CKA needs a second base), graded on the full halves.
    grades = [g for found in grading.values() for g in found
              if g["score"] in layer_scores.LAYER_SCORES and g.get("target_per_class") is None]
    rec = predictors.recommend(grades, rows, "source→target")
    summary = {"pretrained": path, "model": model_name, "dataset": dataset, "split": split_spec,
               "half": half, "layers": ns, "train_images": train_images, "scores": rows,
               "heads": [{"replicate": "—", "direction": "source→target",
                          **layer_scores.score_head(net, train)}],
               "graded_by": sorted(grading), "grading": grades,
               "recommendations": {"source→target": rec}, "similarity": [],
               "matrices": [{"direction": "source→target",
                             **similarity.matrix(test[0], test[0], ns)}],
               "matrix_label": "the source's layers against each other, target images",
               "seconds": round(time.time() - start, 1)}
    text = L.scores_markdown(summary, (
        f"# Layer diagnostics of {path} on {target}",
        f"{model_name}'s features at each n on {train_images} training images of the target "
        f"({len(classes)} classes; k-NN and linear probe tested on its validation images). "
        f"Grading from the measured sweeps {', '.join(sorted(grading)) or '(none found)'}. "
        "Every number here is a prediction, not a measured transfer net."))
    out_dir = out_dir or os.path.join("runs", "diagnose_" + "".join(
        c if c.isalnum() else "_" for c in dataset.split("/")[-1] or dataset))
    os.makedirs(out_dir, exist_ok=True)
    files.write_json(os.path.join(out_dir, "scores.json"), summary)
    files.write_text(os.path.join(out_dir, "scores.md"), text)
    return text, out_dir


def main(argv):
    cli.no_arguments(argv, "--workdir=runs/natural_manmade")
    logging.set_verbosity(logging.WARNING)
    if FLAGS.pretrained and FLAGS.workdir:
        sys.exit("error: pass --workdir (a finished sweep's bases) or --pretrained (a trained net "
                 "on a new --dataset), not both")
    runtime.import_tensorflow_quietly()
    try:
        if FLAGS.pretrained:
            text, out = diagnose_pretrained(
                FLAGS.pretrained, FLAGS.model, FLAGS.dataset, FLAGS.split, FLAGS.half,
                FLAGS.layers, FLAGS.data_dir, FLAGS.train_images, FLAGS.out_dir, FLAGS.graded)
        else:
            text = diagnose(FLAGS.workdir, FLAGS.replicate, FLAGS.direction, FLAGS.layers,
                            FLAGS.data_dir, FLAGS.train_images)
            out = os.path.join(FLAGS.workdir, OUT)
    except cli.user_errors() as e:
        sys.exit(f"error: {e}")
    print(text)
    print(f"wrote {os.path.join(out, 'scores.json')} and scores.md")


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=cli.parse_flags)
