"""Names the command line needs before Keras is imported (so `--help` and flag errors stay
fast): the models, the paper's layer axis and the kinds of net. `alexnet` checks its models
against these; every other module takes them from here."""

MODEL_NAMES = ("caffenet", "caffenet_mini", "caffenet_small")
NUM_LAYERS = 8              # conv1 .. fc8, the paper's indices 1..8
MAX_N = NUM_LAYERS - 1      # fc8 is the target's classifier: never copied
NS = tuple(range(1, MAX_N + 1))
KINDS = ("base", "selffer", "transfer", "random", "reduced")
