"""Which nets a workdir's rows say are missing: the plan the rows imply (its experiments, n, k
and K), less the nets that finished, per (split, split_seed, seed, replicate)."""

from keras_transfer import catalog
from keras_transfer.experiment import plan
from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting.decomposition import group_of


def expected_nets(rows):
    """Net names `plan.make_plan` gives for the experiments, n, k and K these rows show.

    Inferred from the rows, so an experiment (or an n, k or K) with no finished net at all is not
    expected: a partial sweep lists the nets missing within what started.
    """
    kinds = {r["kind"] for r in rows}
    halves = ("A", "B") if any(r["target"] in ("A", "B") for r in rows) else ()
    experiments = [e for e, present in (
        ("base", any(r["kind"] == "base" and r["target"] != "all" for r in rows)),
        ("selffer", "selffer" in kinds), ("transfer", "transfer" in kinds),
        ("random_filters", "random" in kinds or any(group_of(r) == "baseAll" for r in rows)),
        ("reduced", "reduced" in kinds),
        *[(kind, kind in kinds) for kind in catalog.ADAPTATION_KINDS]) if present]
    layers = sorted({int(r["n"]) for r in rows if r["n"] and r["kind"] != "continued"})
    # The continued bases sit at n = the model's cut points; expected where any was planned
    # (workdirs from before them have none).
    continued_n = max((int(r["n"]) for r in rows if r["kind"] == "continued"), default=None)
    per_class = sorted({r["per_class"] for r in rows if r["kind"] == "reduced"})
    target_per_class = sorted({r["target_per_class"] for r in rows
                               if r.get("target_per_class") is not None})
    sizes = target_per_class if halves else ()
    nets = plan.make_plan(layers, experiments, halves, per_class, sizes,
                          continued_n=continued_n)
    if any(r["split"] == catalog.PRETRAINED_SPLIT for r in rows):  # base A is the user's model
        nets = [net for net in nets if net.target != "A" and net.name != "baseA"]
    return [net.name for net in nets]


def missing_nets(rows):
    """{(split, split_seed, seed, replicate): [missing names]}.

    Each (split, split_seed, seed) infers one plan from all its replicates' rows
    (`expected_nets`), and every replicate 0..the highest seen is expected to have run it all.
    """
    found = {}
    for r in rows:
        found.setdefault((str(r["split"]), r["split_seed"], r["seed"]), []).append(r)
    out = {}
    for key, got in sorted(found.items(), key=lambda kv: str(kv[0])):
        expected = expected_nets(got)
        for rep in range(max(D.replicate(r) for r in got) + 1):
            names = {r["net"] for r in got if D.replicate(r) == rep}
            out[(*key, rep)] = [name for name in expected if name not in names]
    return out
