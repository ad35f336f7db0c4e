r"""Figures, tables and findings from a sweep's results.jsonl.

    python -m keras_transfer.report --workdir=runs/natural_manmade
    python -m keras_transfer.report --workdir=runs/seed0,runs/seed1 --out_dir=runs/report_merged

Writes OUT/transfer.{png,svg} (Figure 2), OUT/natural_manmade.{png,svg} and
OUT/random_filters.{png,svg} (Figure 3), OUT/decomposition.{png,svg}, OUT/datasize.{png,svg} and
OUT/reduced.{png,svg} when the sweep ran target sizes (--target_per_class) or reduced-volume nets
(--per_class), OUT/report.md, and the figures as TensorBoard images: the run "report" of
WORKDIR/tensorboard (which it brings up to date), or OUT itself when merging. OUT defaults to
WORKDIR/report, or to COMMON_PARENT/report_merged when several inputs are merged. Takes
seconds on a full sweep.

Every number carries a 95 % interval over replicates and every finding a verdict from it (see
`decomposition` for the pairing, `stats` for the verdicts); report.md leads with the control
(BnB+ vs base) and whether the nets converged, because everything after depends on both.
"""

import json
import logging
import os
import sys

from absl import app, flags

from keras_transfer import cli, files, runtime
from keras_transfer.experiment import results, tensorboard_view
from keras_transfer.reporting import (datasize, datasize_figures, figures, layer_diagnostics,
                                      missing, paper, strategies, trust)
from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import findings as F


class ReportError(ValueError):
    """A problem with the results the user can fix (missing, empty or malformed results.jsonl)."""


def results_files(inputs):
    """Workdirs or .jsonl paths (comma-separated allowed) -> results.jsonl paths."""
    out = []
    for item in inputs:
        for part in str(item).split(","):
            if part.strip():
                part = part.strip()
                out.append(part if part.endswith(".jsonl") else os.path.join(part, "results.jsonl"))
    if not out:
        raise ReportError("no results given: pass --workdir=WORKDIR (the sweep's --workdir) "
                          "or --results=PATH/results.jsonl")
    return out


def read_results(path):
    """Rows and warnings of one results.jsonl (a half-written last line is skipped, warned)."""
    run_first = ("run the sweep first (python -m keras_transfer.sweep --workdir=...) or point "
                 "--workdir at the sweep's workdir")
    if not os.path.isfile(path):
        raise ReportError(f"{path}: no such file; {run_first}")
    numbered, damaged = results.read_rows(path)
    rows, warnings = [], []
    for lineno, last, why in damaged:
        if why == results.NOT_TEXT:  # a damaged disk, not a torn write
            raise ReportError(f"{path} is not text (line {lineno} is not UTF-8), so it is "
                              "damaged: restore it, or rerun the sweep into a fresh workdir")
        if not last:
            raise ReportError(f"{path}:{lineno}: not a JSON object, so the file is corrupt "
                              "(a sweep stopped mid-write and then resumed leaves a partial "
                              "row glued to the next one); delete or fix that line and run "
                              "the report again")
        msg = (f"{path}:{lineno}: skipped a half-written last line (the sweep was probably "
               "stopped while appending it); that net is left out of the report")
        logging.warning(msg)
        warnings.append(msg)
    for lineno, row in numbered:
        missing = [key for key in results.REQUIRED_KEYS if key not in row]
        # A diverged net's metric may be NaN or null: it is listed, never averaged.
        bad = (missing or row["kind"] not in F.KINDS or not D.diverged(row) and (
            isinstance(row[F.METRIC], bool) or not isinstance(row[F.METRIC], (int, float))))
        if bad:
            what = f"lacks {missing}" if missing else f"has kind={row['kind']!r}, {F.METRIC}=" \
                f"{row[F.METRIC]!r} (expected kind in {F.KINDS} and a number)"
            raise ReportError(f"{path}:{lineno}: the row for net {row.get('net', '?')!r} {what}; "
                              "it was not written by this version of keras_transfer.sweep. "
                              "Re-run the sweep into a fresh workdir, or fix the rows")
        for key in ("per_class", "target_per_class"):
            size = row.get(key)
            if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                     or size < 1):
                raise ReportError(f"{path}:{lineno}: the row for net {row['net']!r} has "
                                  f"{key}={size!r}, not a positive integer or null; fix the row")
        if row["kind"] == "reduced" and row.get("per_class") is None:
            raise ReportError(f"{path}:{lineno}: the reduced-volume net {row['net']!r} has no "
                              "per_class (images per class); fix the row")
        rows.append(row)
    if not rows:
        raise ReportError(f"{path} is empty: no net has finished yet; {run_first}, "
                          "or wait until its first net finishes")
    return rows, warnings


def load_rows(paths):
    """Rows of several results files. The same run given twice (a copied workdir, a file named
    twice) is one sample, not two replicates: rows with the same net and weights checksum (or,
    for rows without one, identical rows) are kept once."""
    rows, warnings, seen = [], [], {}
    for path in paths:
        got, warn = read_results(path)
        warnings += warn
        for row in got:
            key = ((row["net"], row["weights_sha256"]) if row.get("weights_sha256")
                   else json.dumps(row, sort_keys=True))
            if key in seen:
                warnings.append(f"{path}: dropped {row['net']} ({row.get('run_dir', '?')}): the "
                                f"same run (same weights) as in {seen[key]}")
                continue
            seen[key] = path
            rows.append(row)
    return rows, warnings


def check_recipes(rows, pool_recipes=False):
    """Refuses rows of different recipes (rundir's recipe_hash) unless asked to pool them; then
    returns warnings that label each recipe. Rows older than the hash count as one recipe."""
    recipes = {}
    for row in rows:
        recipes.setdefault(row.get("recipe_hash"), []).append(row)
    if len(recipes) < 2:
        return []
    settings = {h: got[0].get("recipe") or {} for h, got in recipes.items()}
    keys = sorted({k for s in settings.values() for k in s})
    differ = [k for k in keys if len({json.dumps(s.get(k)) for s in settings.values()}) > 1]
    labels = [f"recipe {h or 'unrecorded (older rows)'}: {len(got)} nets"
              + (" (" + ", ".join(f"{k}={settings[h].get(k)!r}" for k in differ) + ")"
                 if differ and h else "") for h, got in recipes.items()]
    if not pool_recipes:
        raise ReportError("these results come from different recipes, whose numbers are not "
                          "comparable: " + "; ".join(labels) + ". Report each workdir on its "
                          "own, or pass --pool_recipes to pool them anyway (labelled as such)")
    return ["pooled different recipes (--pool_recipes): " + "; ".join(labels)]


def _curve_row(label, base, curve, ns, fmt=lambda e: e.pm()):
    return [label, fmt(base) if base is not None else None,
            *[fmt(curve[n]) if n in curve else None for n in ns]]


def _paper_row(label, base, group, ns):
    return _curve_row(f"*paper {label}*", base, paper.per_n(group), ns, lambda v: f"*{v:.4f}*")


def per_n_tables(rows, comparable):
    """Markdown per split kind: base and each group per n, paper rows beside when comparable."""
    ns = D.axis(rows)
    header = ["group", "base (n=0)", *[f"n={n}" for n in ns]]
    out = []
    for kind in sorted({F.split_kind(r) for r in F.select(rows)},
                       key=lambda s: (s != "random", s)):
        sel = [r for r in F.select(rows, split=kind) if F.group_of(r) not in ("random", "baseAll")]
        if not sel:
            continue
        seeds = sorted({str(r["split_seed"]) for r in sel if r["split_seed"] is not None})
        body = [_curve_row("base (A and B)", F.base_stat(sel), {}, ns)]
        if comparable and kind == "random":
            body.append(["*paper base*", f"*{paper.BASE_MEAN:.4f}*", *[None] * len(ns)])
        for group in F.GROUPS:
            curve = F.per_n(sel, group)
            if curve:
                body.append(_curve_row(group, None, curve, ns))
                if comparable and kind == "random":
                    body.append(_paper_row(group, None, group, ns))
        if kind == "natural_manmade":
            refs = {"transfer to man-made": ("to_manmade", paper.BASE_MANMADE),
                    "transfer to natural": ("to_natural", paper.BASE_NATURAL)}
            for label, (base, curve) in F.natmm_curves(rows).items():
                body.append(_curve_row(label + " (AnB)", base, curve, ns))
                if comparable:
                    body.append(_paper_row(label, refs[label][1], refs[label][0], ns))
        out += [f"### Split `{kind}`" + (f" (split seeds {', '.join(seeds)} pooled)"
                                          if seeds else ""), ""]
        out += F.markdown_table(header, body)
    if F.select(rows, "random") or F.select(rows, "baseAll"):
        base = D.block_estimate(F.select(rows, "baseAll"))
        body = [_curve_row("random frozen filters", base, F.per_n(rows, "random"), ns)]
        if comparable:
            body.append(_paper_row("random filters", paper.BASE_ALL, "random", ns))
        out += ["### Random frozen filters (all classes; base = baseAll)", ""]
        out += F.markdown_table(header, body)
    rel = F.relative_curves(rows)
    if rel:
        out += ["### Relative to the matching base (Figure 3 c; paired in units)", ""]
        out += F.markdown_table(header, [[k, "0", *[v[n].estimate if n in v else None
                                                    for n in ns]] for k, v in rel.items()])
    return out


def table1_section(pool, comparable):
    # The paper's Table 1 is over its random splits: beside another split it would compare
    # different experiments.
    comparable = comparable and {F.split_kind(r) for r in pool} == {"random"}
    ours = F.table1_paired(pool)
    ref = F.table1(paper.per_n("AnB+"), paper.per_n("BnB+"), paper.BASE_MEAN)
    header = ["comparison", "n range", "this run", "n used"] + (["paper"] if comparable else [])
    body = []
    for (comp, rng), (value, used) in ours.items():
        row = [comp, rng, value.estimate, ",".join(map(str, used)) or None]
        if comparable:
            stated = paper.TABLE1.get((comp, rng))
            row.append(f"{stated:+.4f}" if stated is not None else f"{ref[(comp, rng)][0]:+.4f}*")
        body.append(row)
    notes = ["Per unit, the mean over the n range of the paired difference; then as the "
             "decomposition (directions averaged per replicate, interval over replicates)."]
    if comparable:
        notes.append("\\* not in the paper's Table 1; computed from its per-n table.")
    return F.markdown_table(header, body) + notes + [""]


def render_markdown(rows, sources, warnings, margin=F.MARGIN, diagnostics=()):
    """The whole report.md as a string; `diagnostics`: the scores.json of each workdir that
    has one (`reporting.layer_diagnostics`)."""
    good = F.select(rows, size="any")  # diverged rows are listed, never averaged
    datasets = sorted({str(r.get("dataset")) for r in good})
    # The random-filter nets use all classes, so their split does not decide comparability.
    comparable = paper.comparable(datasets, {F.split_kind(r) for r in F.select(rows)
                                             if F.group_of(r) not in ("random", "baseAll")})
    pool, pool_label = F.transfer_pool(rows)
    split_names = sorted({F.split_label(r) for r in rows})
    replicates = sorted({D.replicate(r) for r in rows})
    found = F.findings(rows, margin)
    out = ["# keras_transfer report", "",
           f"- results: {', '.join(f'`{s}`' for s in sources)} ({len(rows)} nets)",
           f"- datasets: {', '.join(datasets)}; models: "
           f"{', '.join(sorted({str(r.get('model')) for r in rows}))}",
           f"- splits: {', '.join(split_names)}; "
           f"seeds: {', '.join(sorted({str(r['seed']) for r in rows}))}; "
           f"replicates: {len(replicates)} ({', '.join(f'r{r}' for r in replicates)})",
           f"- metric: `{F.METRIC}` (mean of the 10 best validation top-1 values, the paper's)",
           *[f"- warning: {w}" for w in warnings], ""]
    out += trust.method_note(margin)
    out += trust.control_section(found[0], pool, margin)
    out += trust.convergence_section(rows)
    out += trust.regime_section(rows)
    out += trust.decomposition_section(pool, rows)
    out += [f"A/B rows: {pool_label}.", "", "![Figure 2](transfer.png)",
            "![Figure 3 a](natural_manmade.png)", "![Figure 3 b, c](random_filters.png)", "",
            "## Findings (judged from 95 % intervals)", "",
            f"BnB/AnB findings use {pool_label}.", ""]
    out += [f"- **{f.status}**: {f.name}. {f.evidence}." for f in found] + [""]
    if not comparable:
        out += [f"Paper numbers are not shown: dataset(s) {', '.join(datasets)} are not ImageNet "
                "with the paper's splits, so absolute accuracies are not comparable; compare the "
                "shapes (findings above).", ""]
    out += ["## Table 1 analogue (fine-tuned transfer AnB+ vs base and BnB+)", ""]
    out += table1_section(pool, comparable)
    out += ["## Accuracy per n (mean ± 95 % half-width over replicate blocks)", ""]
    out += per_n_tables(rows, comparable)
    out += strategies.markdown(rows)
    out += datasize.markdown(rows)
    for summary in diagnostics:
        out += layer_diagnostics.markdown(summary)
    out += ["## Missing nets", ""]
    for (split, split_seed, seed, rep), names in missing.missing_nets(rows).items():
        label = F.split_label({"split": split, "split_seed": split_seed})
        out.append(f"- split {label}, seed {seed}, replicate {rep}: "
                   + (f"{len(names)} missing: {', '.join(names)}" if names else "complete"))
    if not (F.select(rows, "random") or F.select(rows, "baseAll")):
        out.append("- random filters (baseAll, random1..7) were not run")
    out += ["", "## Every net", ""] + trust.net_table(rows)
    return "\n".join(out)


def default_out_dir(paths):
    dirs = [os.path.dirname(os.path.abspath(p)) for p in paths]
    if len(set(dirs)) == 1:
        return os.path.join(dirs[0], "report")
    return os.path.join(os.path.commonpath(dirs), "report_merged")


def write_report(workdirs, out_dir=None, margin=F.MARGIN, pool_recipes=False):
    """Figures, report.md and TensorBoard images for one or several workdirs; returns report.md."""
    paths = results_files([workdirs] if isinstance(workdirs, str) else workdirs)
    rows, warnings = load_rows(paths)
    warnings += check_recipes(rows, pool_recipes)
    out_dir = out_dir or default_out_dir(paths)
    pngs = {**figures.write_all(rows, out_dir), **datasize_figures.write_all(rows, out_dir)}
    found = []
    for path in paths:
        try:
            summary = layer_diagnostics.read(os.path.dirname(os.path.abspath(path)))
        except ValueError as e:  # another layout: the report without it, and why
            warnings.append(str(e))
            continue
        if summary is not None:
            found.append(summary)
    if len(found) == 1:  # merged workdirs get their tables; one workdir its figures too
        pngs.update(layer_diagnostics.write_figures(found[0], rows, out_dir))
    md = os.path.join(out_dir, "report.md")
    files.write_text(md, render_markdown(rows, paths, warnings, margin, found))
    # The figures as TensorBoard images at the last training step: in the workdir's view
    # (beside the curves), or for merged workdirs in a logdir of their own, out_dir.
    step = max((row.get("steps") or 0 for row in rows), default=0)
    if len(paths) == 1:
        workdir = os.path.dirname(os.path.abspath(paths[0]))
        tensorboard_view.update(workdir)
        tensorboard_view.write_images(os.path.join(tensorboard_view.view_dir(workdir),
                                                   tensorboard_view.REPORT_RUN), pngs, step)
    else:
        tensorboard_view.write_images(out_dir, pngs, step)
    return md


FLAGS = flags.FLAGS


def define_flags():
    # Defined only when run as a command: the sweep imports this module and has its own flags.
    flags.DEFINE_multi_string("workdir", [], "Sweep workdir(s) holding results.jsonl; repeat "
                              "or comma-separate to merge several.")
    flags.DEFINE_list("results", [], "results.jsonl file(s) to read besides --workdir.")
    flags.DEFINE_string("out_dir", None, "Where to write; default WORKDIR/report.")
    flags.DEFINE_float("margin", F.MARGIN, "Top-1 half-width of an 'about equal' claim: "
                       "BnB+ = base holds when its 95 % interval lies within +-margin.")
    flags.DEFINE_bool("pool_recipes", False, "Pool rows of different recipes (steps, learning "
                      "rate, model, ...) into one report; refused without this flag.")


def main(argv):
    cli.no_arguments(argv, "--workdir=runs/natural_manmade")
    if not FLAGS.margin > 0:
        sys.exit(f"error: --margin={FLAGS.margin}: must be a positive top-1 half-width "
                 f"(default {F.MARGIN})")
    inputs = FLAGS.workdir + FLAGS.results
    runtime.import_tensorflow_quietly()  # the TensorBoard view reads event files through it
    try:
        print(write_report(inputs, FLAGS.out_dir, FLAGS.margin, FLAGS.pool_recipes))
    except ReportError as e:
        sys.exit(f"error: {e}")
    except OSError as e:  # an --out_dir that cannot be written, a results file unreadable
        sys.exit(f"error: {e.filename}: {e.strerror}; the results must be readable and "
                 "--out_dir (default WORKDIR/report) writable: pass another --out_dir")


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=cli.parse_flags)
