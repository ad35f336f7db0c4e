"""The sweep's plan: which nets to train, in which order, and which base each one copies from.

For halves A and B: baseA and baseB; for each n the selffers BnB, AnA and transfers AnB, BnA,
frozen and fine-tuned (+), since the paper pools both directions; and the random-filter control
random<n> (layers 1..n random and frozen) on all classes, beside its all-class base baseAll.
"""

import dataclasses

EXPERIMENTS = ("base", "selffer", "transfer", "random_filters")


@dataclasses.dataclass(frozen=True)
class Net:
    name: str
    kind: str                 # base, selffer, transfer, random
    target: str               # "A", "B" or "all": the classes it is trained and evaluated on
    source: str | None = None  # the half whose base it copies layers 1..n from
    n: int = 0
    fine_tune: bool = False

    @property
    def parent(self):
        """Name of the base net whose weights this net copies, or None."""
        return None if self.source is None else f"base{self.source}"

    @property
    def mode(self):
        if self.kind == "random":
            return "random_frozen"
        return "fine_tune" if self.fine_tune else "frozen"

    def hparams(self):
        return {"net": self.name, "kind": self.kind, "source": self.source or "-",
                "target": self.target, "n": self.n, "fine_tune": self.fine_tune}


def base(target):
    return Net("baseAll" if target == "all" else f"base{target}", "base", target)


def copied(source, n, target, fine_tune):
    """BnB / AnB style net: layers 1..n from base<source>, trained on <target>."""
    kind = "selffer" if source == target else "transfer"
    return Net(f"{source}{n}{target}{'+' if fine_tune else ''}", kind, target, source, n, fine_tune)


def random_filters(n):
    return Net(f"random{n}", "random", "all", None, n)


def make_plan(layers, experiments, halves=("A", "B")):
    """Every net to train, parents before dependants.

    layers: the n values (1..7). experiments: a subset of EXPERIMENTS. halves: ("A", "B") for a
    split, () when the split is `none` (then only the all-class base and random filters exist).
    """
    unknown = set(experiments) - set(EXPERIMENTS)
    if unknown:
        raise ValueError(f"unknown experiments {sorted(unknown)}; choose from {EXPERIMENTS}")
    if not halves and set(experiments) & {"selffer", "transfer"}:
        raise ValueError("selffer/transfer experiments need a split with two halves "
                         "(--split=random, natural_manmade or a JSON file), not --split=none")
    dependants = []
    for n in layers:
        for target in halves:
            for source in halves:
                kind = "selffer" if source == target else "transfer"
                if kind in experiments:
                    dependants += [copied(source, n, target, False), copied(source, n, target, True)]
        if "random_filters" in experiments:
            dependants.append(random_filters(n))
    bases = [base(h) for h in halves if "base" in experiments or
             any(d.source == h for d in dependants)]
    if "random_filters" in experiments or ("base" in experiments and not halves):
        bases.append(base("all"))
    return bases + dependants


def parse_layers(text):
    """`--layers` value ("1,2,3" or "1-7") to a sorted list of n in 1..7, with a clear error."""
    values = set()
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-")
                values.update(range(int(lo), int(hi) + 1))
            elif part:
                values.add(int(part))
    except ValueError:
        raise ValueError(f"--layers={text!r} is not a list of integers like '1,2,3' or '1-7'")
    bad = sorted(v for v in values if not 1 <= v <= 7)
    if bad or not values:
        raise ValueError(f"--layers={text!r}: every n must be in 1..7 (n is the number of "
                         f"copied layers; fc8 is never copied); bad: {bad or 'empty'}")
    return sorted(values)
