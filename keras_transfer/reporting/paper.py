"""The paper's reference numbers (Yosinski et al. 2014), copied from `shared/reference/PAPER.md`.

All values are top-1 on the target half's validation set with the paper's metric (mean of the 10
best validation evaluations of a run), recomputed from the original Caffe logs. They are only
comparable with runs on ImageNet with the original splits (`comparable`).
"""

NS = (1, 2, 3, 4, 5, 6, 7)

# The 8 base nets: halves A/B of the random splits with seeds 0-3.
BASE_NETS = (0.6151, 0.6341, 0.6232, 0.6250, 0.6286, 0.6219, 0.6260, 0.6269)
BASE_MEAN = 0.6251
BASE_NATURAL = 0.6534   # natural half (A of the natural/man-made split)
BASE_MANMADE = 0.5372   # man-made half (B)
BASE_ALL = 0.5763       # the 1000-class net, base of the random-filter control

# Per n = 1..7; both directions pooled (AnB = A->B and B->A, BnB = B->B and A->A).
PER_N = {
    "BnB": (0.6267, 0.6235, 0.6211, 0.6048, 0.5935, 0.6188, 0.6233),
    "AnB": (0.6282, 0.6239, 0.6189, 0.5998, 0.5780, 0.5806, 0.5425),
    "BnB+": (0.6177, 0.6215, 0.6313, 0.6287, 0.6301, 0.6276, 0.6266),
    "AnB+": (0.6373, 0.6358, 0.6426, 0.6398, 0.6446, 0.6460, 0.6465),
    "to_manmade": (0.5392, 0.5214, 0.5008, 0.4616, 0.4098, 0.3742, 0.2914),
    "to_natural": (0.6571, 0.6506, 0.6250, 0.5824, 0.5219, 0.4851, 0.3990),
    "random": (0.4917, 0.4026, 0.0011, 0.0191, 0.0499, 0.0145, 0.0146),
}

# Table 1 as stated in the paper: mean over the n range of the per-n difference. The paper gives
# no n=1-3 column; `findings.table1` over PER_N reproduces these values and supplies it.
TABLE1 = {
    ("AnB+ - base", "1-7"): 0.0167,
    ("AnB+ - base", "3-7"): 0.0188,
    ("AnB+ - base", "5-7"): 0.0206,
    ("AnB+ - BnB+", "1-7"): 0.0156,
    ("AnB+ - BnB+", "3-7"): 0.0150,
    ("AnB+ - BnB+", "5-7"): 0.0176,
}


def per_n(group):
    """{n: value} for one PER_N group."""
    return dict(zip(NS, PER_N[group]))


def comparable(datasets, split_kinds):
    """True when all datasets are ImageNet and all splits the paper's (random, natural_manmade)."""
    return (bool(datasets) and all("imagenet" in str(d).lower() for d in datasets)
            and set(split_kinds) <= {"random", "natural_manmade"})
