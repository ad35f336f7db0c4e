"""The sweep's plan: which nets to train, in which order, and which base each one copies from.

For halves A and B: baseA and baseB; for each n the selffers BnB, AnA and transfers AnB, BnA,
frozen and fine-tuned (+), since the paper pools both directions; each base continued for one
more budget (B8B+ on CaffeNet, kind "continued"), the selffers' budget-matched control; and the
random-filter control random<n> (layers 1..n random and frozen) on all classes, beside its
all-class base baseAll.

Dataset size: `reduced<k>` nets (the original's reduced-volume experiment) are all-class bases
trained on the first k images of each class; with target sizes K, the target-side nets of half
B (baseB, BnB, BnB+, AnB, AnB+) are trained again on K images per class, named `A3B+@k10`,
while their sources stay trained on the full half.
"""

import dataclasses

from keras_transfer import catalog

EXPERIMENTS = ("base", "selffer", "transfer", "random_filters", "reduced",
               *catalog.ADAPTATION_KINDS)
PAPER_EXPERIMENTS = EXPERIMENTS[:4]  # the default: the paper's figures 2 and 3


@dataclasses.dataclass(frozen=True)
class Net:
    name: str
    kind: str                 # catalog.KINDS: base, selffer, transfer, random, ...
    target: str               # "A", "B" or "all": the classes it is trained and evaluated on
    source: str | None = None  # the half whose base it copies layers 1..n from
    n: int = 0
    fine_tune: bool = False
    per_class: int | None = None  # training images per class (None: all of them)
    replicate: int = 0        # which of the sweep's independent repetitions (inits, data orders)

    @property
    def key(self):
        """The net's unique id in a sweep (and its run directory under runs/): "r0/A3B+"."""
        return f"r{self.replicate}/{self.name}"

    @property
    def parent(self):
        """Name of the net whose weights this net copies (its base; an LP-FT net's AnB), or None."""
        parent = parent_net(self)
        return None if parent is None else parent.name

    @property
    def parent_key(self):
        """The key of that net: the same replicate's."""
        parent = parent_net(self)
        return None if parent is None else parent.key

    @property
    def mode(self):
        if self.kind == "random":
            return "random_frozen"
        if self.kind in catalog.ADAPTATION_KINDS:
            return self.kind
        return "fine_tune" if self.fine_tune else "frozen"

    def hparams(self):
        return {"net": self.name, "kind": self.kind, "source": self.source or "-",
                "target": self.target, "n": self.n, "fine_tune": self.fine_tune,
                "strategy": catalog.strategy(self.kind, self.fine_tune),
                "replicate": self.replicate, **self.sizes()}

    def sizes(self):
        """The results row's dataset-size columns: reduced nets set per_class, K-limited
        target-side nets target_per_class."""
        reduced = self.kind == "reduced"
        return {"per_class": self.per_class if reduced else None,
                "target_per_class": None if reduced else self.per_class}


def readiness(unit, is_done, failed):
    """What a queue does with `unit` (one net, or nets that train as one model): "blocked" when
    the parent of one of them failed (it can never train in this run), "waiting" while a parent
    is unfinished, else "ready". The one rule by which both engines hand out work: the local
    workers (experiment.workers) and the KerasTuner chief (experiment.distributed)."""
    parents = {net.parent_key for net in unit if net.parent_key}
    if parents & set(failed):
        return "blocked"
    return "waiting" if any(not is_done(key) for key in parents) else "ready"


LP_FT_SUFFIX = "-lp_ft"


def parent_net(net):
    """The net `net` copies from: the frozen AnB of an LP-FT net (same n, replicate and images
    per class), else its source's base (trained on the full half), else None."""
    if net.kind == "lp_ft":
        kind = "selffer" if net.source == net.target else "transfer"
        return dataclasses.replace(net, name=net.name.replace(LP_FT_SUFFIX, ""), kind=kind)
    return None if net.source is None else base(net.source, net.replicate)


def with_target_size(net, k):
    """The same net trained on k images per target class, e.g. A3B+@k10."""
    return dataclasses.replace(net, name=f"{net.name}@k{k}", per_class=k)


def reduced(k):
    return Net(f"reduced{k:04d}", "reduced", "all", per_class=k)


def base(target, replicate=0):
    return Net("baseAll" if target == "all" else f"base{target}", "base", target,
               replicate=replicate)


def copied(source, n, target, fine_tune):
    """BnB / AnB style net: layers 1..n from base<source>, trained on <target>."""
    kind = "selffer" if source == target else "transfer"
    return Net(f"{source}{n}{target}{'+' if fine_tune else ''}", kind, target, source, n, fine_tune)


def continued(half, n, replicate=0):
    """The base of `half` fine-tuned for one more budget, every layer copied, classifier
    included (n: every cut point, 8 on CaffeNet; "B8B+"): BnB+ gets a second budget for its
    upper layers, and this net measures what a second budget alone is worth."""
    return Net(f"{half}{n}{half}+", "continued", half, half, n, True, replicate=replicate)


def adapted(kind, source, n, target):
    """A transfer net of an adaptation kind (catalog.ADAPTATION_KINDS): "A3B-surgical"."""
    return Net(f"{source}{n}{target}-{kind}", kind, target, source, n)


def _lp_ft_last(nets):
    """LP-FT nets after every other dependant: each starts from its AnB, trained before it."""
    return [net for net in nets if net.kind != "lp_ft"] + [
        net for net in nets if net.kind == "lp_ft"]


def random_filters(n):
    return Net(f"random{n}", "random", "all", None, n)


def make_plan(layers, experiments, halves=("A", "B"), per_class=(), target_per_class=(),
              replicates=1, continued_n=None):
    """Every net to train, parents before dependants: every replicate's bases, then every
    replicate's dependants (replicate r's nets are those of replicate 0 with replicate=r).

    layers: the n values (1..7). experiments: a subset of EXPERIMENTS. halves: ("A", "B") for a
    split, () when the split is `none` (then only the all-class base and random filters exist).
    per_class: k values of the reduced experiment. target_per_class: K values for target half B.
    replicates: how many times every net is trained (independent inits and data orders).
    continued_n: the model's cut points (8 on CaffeNet); with selffers, each half's base
    continued for one more budget (`continued`) is planned too. None: not planned.
    """
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise ValueError(f"--replicates={replicates!r} must be an integer >= 1 (each net is "
                         "trained that many times, with independent inits and data orders)")
    unknown = set(experiments) - set(EXPERIMENTS)
    if unknown:
        raise ValueError(f"unknown experiments {sorted(unknown)}; choose from {EXPERIMENTS}")
    if not halves and set(experiments) & {"selffer", "transfer", *catalog.ADAPTATION_KINDS}:
        raise ValueError(f"selffer, transfer and {', '.join(catalog.ADAPTATION_KINDS)} "
                         "experiments need a split with two halves (--split=random, "
                         "natural_manmade or a JSON file), not --split=none")
    dependants = []
    for n in layers:
        for target in halves:
            for source in halves:
                kind = "selffer" if source == target else "transfer"
                if kind in experiments:
                    dependants += [copied(source, n, target, False), copied(source, n, target, True)]
                if source != target:
                    dependants += [adapted(k, source, n, target)
                                   for k in catalog.ADAPTATION_KINDS if k in experiments]
        if "random_filters" in experiments:
            dependants.append(random_filters(n))
    if continued_n and "selffer" in experiments:
        dependants += [continued(h, continued_n) for h in halves]
    bases = [base(h) for h in halves if "base" in experiments or
             any(d.source == h for d in dependants)]
    if "random_filters" in experiments or ("base" in experiments and not halves):
        bases.append(base("all"))
    if "reduced" in experiments:
        if not per_class:
            raise ValueError("--experiments=reduced needs --per_class=k1,k2,... (images per class)")
        bases += [reduced(k) for k in per_class]
    sized = []
    if target_per_class:
        if not halves:
            raise ValueError("--target_per_class needs a split with two halves, not --split=none")
        target = halves[-1]
        for k in target_per_class:
            sized.append(with_target_size(base(target), k))
            sized += [with_target_size(d, k) for d in dependants
                      if d.target == target
                      and d.kind not in ("random", "base", "reduced", "continued")]
    if "lp_ft" in experiments and "transfer" not in experiments:
        raise ValueError("--experiments=lp_ft starts from the frozen transfer nets AnB: add "
                         "transfer to --experiments")
    one = bases + _lp_ft_last(dependants) + _lp_ft_last(sized)
    copies = [[dataclasses.replace(net, replicate=r) for net in one] for r in range(replicates)]
    is_base = lambda net: net.kind in ("base", "reduced")  # noqa: E731
    return ([net for nets in copies for net in nets if is_base(net)]
            + [net for nets in copies for net in nets if not is_base(net)])


def parse_sizes(text, flag):
    """`--per_class` / `--target_per_class` value ("5,20,80") to sorted positive integers."""
    if not str(text or "").strip():
        return []
    try:
        values = sorted({int(part) for part in str(text).split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"--{flag}={text!r} must be positive integers like '5,20,80'")
    if not values or values[0] < 1:
        raise ValueError(f"--{flag}={text!r}: images per class must be at least 1")
    return values


def parse_layers(text, model="caffenet"):
    """`--layers` value ("1,2,3", "1-7" or "all": 1..max_n) to a sorted list of n in
    1..max_n(model), with a clear error."""
    top = catalog.max_n(model)
    if str(text).strip() == "all":
        return list(range(1, top + 1))
    values = set()
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        try:
            lo, hi = map(int, part.split("-")) if "-" in part else (int(part), int(part))
        except ValueError:
            raise ValueError(f"--layers={text!r} is not 'all' or a list of integers like "
                             "'1,2,3' or '1-7'") from None
        if lo > hi:  # range() would silently give no n at all
            raise ValueError(f"--layers={text!r}: the range {part} is reversed; write the low "
                             f"end first: {hi}-{lo}")
        values.update(range(lo, hi + 1))
    bad = sorted(v for v in values if not 1 <= v <= top)
    if bad or not values:
        classifier = catalog.layer_axis(model)[-1]
        named = "the classifier" if classifier == "classifier" else f"{classifier}, the classifier,"
        raise ValueError(f"--layers={text!r}: every n must be in 1..{top} for {model} (n is the "
                         f"number of copied layers; {named} is never copied); "
                         f"bad: {bad or 'empty'}")
    return sorted(values)
