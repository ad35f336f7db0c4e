"""Names the command line needs before Keras is imported (so `--help` and flag errors stay
fast): the models, the paper's layer axis and the kinds of net. `alexnet` checks its models
against these; every other module takes them from here."""

MODEL_NAMES = ("caffenet", "caffenet_mini", "caffenet_small")
# The layer axis: each model's ordered cut points, the paper's indices 1..8. A net "n" copies
# layers 1..n; the last layer is the target's classifier and is never copied. The builders
# (nets.alexnet) name their layers by these; plan, transfer, summaries, bench and the report
# ask for the axis instead of counting layers themselves.
CAFFENET_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
LAYERS = {name: CAFFENET_LAYERS for name in MODEL_NAMES}
NUM_LAYERS = len(CAFFENET_LAYERS)
MAX_N = NUM_LAYERS - 1      # fc8 is the target's classifier: never copied
NS = tuple(range(1, MAX_N + 1))


def layer_axis(model):
    """The ordered cut points (layer names) of `model`, with a clear error for an unknown one."""
    if model not in LAYERS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)}")
    return LAYERS[model]


def max_n(model):
    """The largest n a transfer net of `model` can copy (all layers but the classifier)."""
    return len(layer_axis(model)) - 1
KINDS = ("base", "selffer", "transfer", "random", "reduced")
# How a net treats the layers it has below its cut: none (trained from scratch), copied and
# frozen, copied and fine-tuned, random and frozen (the control).
STRATEGIES = ("scratch", "frozen", "fine_tune", "random_frozen")


def strategy(kind, fine_tune):
    """A net's strategy (one of STRATEGIES) from its kind and fine-tune flag."""
    if kind in ("base", "reduced"):
        return "scratch"
    if kind == "random":
        return "random_frozen"
    return "fine_tune" if fine_tune else "frozen"
