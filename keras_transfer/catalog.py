"""Names the command line needs before Keras is imported (so `--help` and flag errors stay
fast): the models, the paper's layer axis and the kinds of net. `alexnet` checks its models
against these; every other module takes them from here."""

CAFFENET_MODELS = ("caffenet", "caffenet_mini", "caffenet_small")
MOBILENET_MODELS = ("mobilenetv3_mini", "mobilenetv3_small")
RESNET_MODELS = ("resnet_mini", "resnet18", "resnet50")
VIT_MODELS = ("vit_mini", "vit_tiny")
APPLICATION_MODELS = ("efficientnetv2_b0", "convnext_tiny")   # keras.applications as they are
# --pretrained=imagenet: the models whose trunk has keras.applications ImageNet weights.
IMAGENET_PRETRAINED = "imagenet"
IMAGENET_MODELS = ("mobilenetv3_small", "resnet50", "efficientnetv2_b0", "convnext_tiny")
MODEL_NAMES = CAFFENET_MODELS + MOBILENET_MODELS + RESNET_MODELS + VIT_MODELS + \
    APPLICATION_MODELS
# The layer axis: each model's ordered cut points, the paper's indices 1..8. A net "n" copies
# layers 1..n; the last layer is the target's classifier and is never copied. The builders
# (nets.alexnet) name their layers by these; plan, transfer, summaries, bench and the report
# ask for the axis instead of counting layers themselves.
CAFFENET_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
# MobileNetV3-Small (keras.applications) cut at its stage boundaries, where resolution or width
# changes: the stem, its inverted-residual blocks 0..10 in five stages, the last 1x1 conv, and
# the classifier (nets.backbones maps each to a tensor of the Keras graph).
MOBILENET_LAYERS = ("stem", "block0", "blocks1-2", "blocks3-5", "blocks6-7", "blocks8-10",
                    "conv_1", "classifier")
# resnet_mini (nets.resnet): its stem and its six basic blocks, two a stage. ResNet-50
# (keras.applications) at its stage ends conv2..conv5, and in the middle of its two longest
# stages (conv3: 4 blocks, conv4: 6), so that seven cuts spread over its 16 blocks.
RESNET_MINI_LAYERS = ("stem", "stage1_block1", "stage1_block2", "stage2_block1",
                      "stage2_block2", "stage3_block1", "stage3_block2", "classifier")
RESNET50_LAYERS = ("stem", "conv2", "conv3_block2", "conv3", "conv4_block3", "conv4", "conv5",
                   "classifier")
# ResNet-18: its stem (with the max pool) and each of its eight basic blocks: nine n.
RESNET18_LAYERS = ("stem_pool", *[f"stage{s}_block{b}" for s in (1, 2, 3, 4) for b in (1, 2)],
                   "classifier")
# ViTs (nets.vit): the patch and position embedding, then every transformer block.
VIT_MINI_LAYERS = ("embed", *[f"block{k}" for k in range(1, 7)], "classifier")
VIT_TINY_LAYERS = ("embed", *[f"block{k}" for k in range(1, 13)], "classifier")
# EfficientNetV2-B0 at its stem, the ends of its six stages and its last 1x1 conv (`top`);
# ConvNeXt-Tiny at its stem and the ends of its four stages, its long third stage (9 blocks)
# also after blocks 3 and 6 (nets.backbones maps each to a Keras tensor).
EFFICIENTNETV2_LAYERS = ("stem", "block1", "block2", "block3", "block4", "block5", "block6",
                         "top", "classifier")
CONVNEXT_LAYERS = ("stem", "stage0", "stage1", "stage2_block3", "stage2_block6", "stage2",
                   "stage3", "classifier")
LAYERS = {**{name: CAFFENET_LAYERS for name in CAFFENET_MODELS},
          **{name: MOBILENET_LAYERS for name in MOBILENET_MODELS},
          "resnet_mini": RESNET_MINI_LAYERS, "resnet18": RESNET18_LAYERS,
          "resnet50": RESNET50_LAYERS, "vit_mini": VIT_MINI_LAYERS, "vit_tiny": VIT_TINY_LAYERS,
          "efficientnetv2_b0": EFFICIENTNETV2_LAYERS, "convnext_tiny": CONVNEXT_LAYERS}
# The paper's axis: CaffeNet's eight layers, n = 1..7 (fc8 is the target's classifier and is
# never copied). A backbone has as many cut points as its axis names; the report takes its n
# axis from the rows' model (reporting.decomposition.axis) and reads the paper's layer ranges
# at the same depth.
NUM_LAYERS = len(CAFFENET_LAYERS)
MAX_N = NUM_LAYERS - 1
NS = tuple(range(1, MAX_N + 1))


def layer_axis(model):
    """The ordered cut points (layer names) of `model`, with a clear error for an unknown one."""
    if model not in LAYERS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)}")
    return LAYERS[model]


def max_n(model):
    """The largest n a transfer net of `model` can copy (all layers but the classifier)."""
    return len(layer_axis(model)) - 1
# Beyond the paper's kinds, adaptation strategies on the same n axis, each a kind of its
# own (so no report of the paper's kinds pools them): "truncate" keeps the source's blocks
# 1..n frozen, drops the rest and trains a new linear classifier on them (feature extraction
# at depth n); "surgical" copies every block, trains only block n and a new classifier (Lee et
# al., ICLR 2023); "lp_ft" starts from the trained AnB (its head fitted on frozen features) and
# fine-tunes every layer (LP-FT, Kumar et al., ICLR 2022); "llrd" copies blocks 1..n like AnB+
# and fine-tunes them with layer-wise learning-rate decay, block k at decay ** (n + 1 - k)
# times the rate (--llrd_decay; Howard & Ruder 2018, Clark et al. 2020).
ADAPTATION_KINDS = ("truncate", "surgical", "lp_ft", "llrd")
LLRD_DECAY = 0.7  # 0.7 ** 7 = 0.08: an n=7 llrd net's first block learns at 1/12 of the rate
# "continued": a base fine-tuned for one more budget with every layer copied (B8B+ on CaffeNet),
# the selffers' budget-matched control.
KINDS = ("base", "selffer", "transfer", "random", "reduced", "continued") + ADAPTATION_KINDS
# The split of a sweep from a user's pretrained model (--pretrained): half A is the source's
# (untrained here, no rows), half B every class of the dataset.
PRETRAINED_SPLIT = "pretrained"
# How a net treats the layers it has below its cut: none (trained from scratch), copied and
# frozen, copied and fine-tuned, random and frozen (the control), and the adaptation kinds.
STRATEGIES = ("scratch", "frozen", "fine_tune", "random_frozen") + ADAPTATION_KINDS


def strategy(kind, fine_tune):
    """A net's strategy (one of STRATEGIES) from its kind and fine-tune flag."""
    if kind in ADAPTATION_KINDS:
        return kind
    if kind in ("base", "reduced"):
        return "scratch"
    if kind == "random":
        return "random_frozen"
    return "fine_tune" if fine_tune else "frozen"
