"""Class splits: the paper's random A/B halves, natural/man-made, a user's JSON file, or none.

A split is two disjoint tuples of original class ids, each sorted; within a half, classes are
renumbered 0..k-1 in that order (the data pipelines do the renumbering).
"""

import dataclasses
import hashlib
import importlib.resources
import json
import os
import re

import numpy as np

_WNID = re.compile(r"^n\d{8}$")
_KINDS = ("random", "natural_manmade", "none")


class SplitError(ValueError):
    """A split that cannot be built: the message names the class or file and what to do."""


@dataclasses.dataclass(frozen=True)
class Split:
    kind: str  # "random", "natural_manmade", "none" or "json"
    seed: int | None
    a: tuple
    b: tuple

    def __post_init__(self):
        object.__setattr__(self, "a", tuple(int(c) for c in self.a))
        object.__setattr__(self, "b", tuple(int(c) for c in self.b))
        for name, half in (("A", self.a), ("B", self.b)):
            if list(half) != sorted(set(half)):
                raise SplitError(f"split half {name} must be sorted and without duplicates: {half}")
        overlap = sorted(set(self.a) & set(self.b))
        if overlap:
            raise SplitError(f"split halves A and B share classes {overlap}; make them disjoint")

    def half(self, name):
        """Sorted original class ids of half "A", "B" or "all" (A and B together)."""
        if name == "A":
            return self.a
        if name == "B":
            return self.b
        if name == "all":
            return tuple(sorted(self.a + self.b))
        raise SplitError(f"unknown half {name!r}; use 'A', 'B' or 'all'")

    @property
    def fingerprint(self):
        """16 hex digits of sha256 over the class ids of both halves (kind and seed excluded)."""
        text = json.dumps({"A": list(self.a), "B": list(self.b)}, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self):
        return {"kind": self.kind, "seed": self.seed, "A": list(self.a), "B": list(self.b),
                "fingerprint": self.fingerprint}


def random_split(seed, num_classes=1000):
    """The original repository's random halves: numpy legacy RNG seeded with [seed]."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise SplitError(f"split seed must be an integer in [0, 2**32), got {seed!r}")
    chosen = np.random.RandomState([int(seed)]).choice(num_classes, num_classes // 2, replace=False)
    a = sorted(int(c) for c in chosen)
    b = sorted(set(range(num_classes)) - set(a))
    return a, b


def _reference_lines(name):
    text = importlib.resources.files("keras_transfer").joinpath("reference", name).read_text()
    return [line for line in text.splitlines() if line.strip()]


def natural_manmade():
    """ImageNet's 449 natural (A) and 551 man-made (B) class indices, as in the original runs."""
    a = sorted(int(i) for i in _reference_lines("half_nat_idx.txt"))
    b = sorted(int(i) for i in _reference_lines("half_man_idx.txt"))
    return a, b


def imagenet_synsets():
    """The 1000 ILSVRC-2012 (wnid, words) pairs in class-index order."""
    return [tuple(line.split(" ", 1)) for line in _reference_lines("synset_words.txt")]


def _imagenet_natural_manmade(class_names):
    wnids = [w for w, _ in imagenet_synsets()]
    nat, man = (set(wnids[i] for i in half) for half in natural_manmade())
    unknown = [name for name in class_names if name not in nat | man]
    if unknown:
        raise SplitError(f"classes {unknown[:5]} are not ILSVRC-2012 WordNet ids, so the "
                         "natural/man-made split does not cover them; pass a JSON split file")
    a = [i for i, name in enumerate(class_names) if name in nat]
    b = [i for i, name in enumerate(class_names) if name in man]
    return a, b


def _name_index(class_names):
    """Name -> class id; ImageNet-like datasets also accept synset words ('tench, Tinca tinca'
    or just 'tench'); an ambiguous first word (e.g. 'crane') maps to None."""
    index = {name: i for i, name in enumerate(class_names)}
    if class_names and all(_WNID.match(name) for name in class_names):
        for wnid, words in imagenet_synsets():
            if wnid in index:
                first = words.split(",")[0].strip()
                index.setdefault(words, index[wnid])
                ambiguous = first in index and index[first] != index[wnid]
                index[first] = None if ambiguous else index[wnid]
    return index


def _load_json(path, class_names):
    if not os.path.isfile(path):
        raise SplitError(f"split {path!r} is neither one of {', '.join(_KINDS)} nor an existing "
                         'JSON file; pass one of those or a file {"A": [...], "B": [...]}')
    try:
        with open(path) as f:
            spec = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SplitError(f"cannot read split file {path}: {e}; it must hold "
                         '{"A": [class names or indices], "B": [...]}') from None
    if not isinstance(spec, dict) or set(spec) != {"A", "B"} or not all(
            isinstance(spec[h], list) for h in "AB"):
        raise SplitError(f"split file {path} must hold exactly "
                         '{"A": [class names or indices], "B": [...]}')
    index = _name_index(class_names)
    halves = []
    for half in "AB":
        ids = []
        for entry in spec[half]:
            if type(entry) is int and 0 <= entry < len(class_names):  # bool is not a class
                cid = entry
            elif isinstance(entry, str) and index.get(entry) is not None:
                cid = index[entry]
            elif isinstance(entry, str) and entry in index:
                raise SplitError(f"class {entry!r} in half {half} of {path} is ambiguous; "
                                 "use its WordNet id or index instead")
            else:
                raise SplitError(f"unknown class {entry!r} in half {half} of {path}; use one of "
                                 f"the dataset's {len(class_names)} class names (e.g. "
                                 f"{list(class_names[:3])}) or an index in [0, {len(class_names)})")
            if cid in ids:
                raise SplitError(f"class {entry!r} appears twice in half {half} of {path}; "
                                 "list each class once")
            ids.append(cid)
        if not ids:
            raise SplitError(f"half {half} of split file {path} is empty; list at least one class")
        halves.append(sorted(ids))
    overlap = sorted(set(halves[0]) & set(halves[1]))
    if overlap:
        raise SplitError(f"classes {[class_names[c] for c in overlap]} are in both halves of "
                         f"{path}; each class belongs to A or B, not both")
    return halves


def resolve(spec, class_names, seed=0, families=None):
    """The Split named by spec ("random", "natural_manmade", "none" or a JSON file path)."""
    class_names = tuple(class_names)
    if spec == "random":
        a, b = random_split(seed, len(class_names))
        return Split("random", int(seed), a, b)
    if spec == "natural_manmade":
        if families is not None:
            a, b = sorted(families["natural"]), sorted(families["manmade"])
        elif class_names and all(_WNID.match(name) for name in class_names):
            a, b = _imagenet_natural_manmade(class_names)
        else:
            raise SplitError("natural_manmade needs ImageNet WordNet-id class names "
                             "(n01440764...) or a dataset with families; for other datasets pass "
                             'a JSON split file {"A": [...], "B": [...]}')
        if not a or not b:
            empty = "A (natural)" if not a else "B (man-made)"
            raise SplitError(f"natural_manmade leaves half {empty} empty for this dataset; "
                             "pass a JSON split file instead")
        return Split("natural_manmade", None, a, b)
    if spec == "none":
        return Split("none", None, range(len(class_names)), ())
    a, b = _load_json(os.fspath(spec), class_names)
    return Split("json", None, a, b)
