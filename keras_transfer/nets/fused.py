"""Several nets as one model: nets of a sweep that share a source and a target train together.

Fine-tuned nets (AnB+ for n = 1..7) share nothing but the input: the group is the k whole nets
side by side in one graph, one loss each. On a CPU their independent ops run in parallel
(measured 1.2-1.8x the throughput of one small net at a time, BENCHMARKS.md), and the group pays
one trace, one input pipeline and one evaluation pass instead of k.

Frozen nets share a trunk:

AnB for n = 1..7 all freeze layers 1..n of baseA and train fresh layers n+1..8 on B; the frozen
layers compute the same activations for every n. So one model runs the frozen trunk once per
batch and feeds head n (net n's own layers n+1..8) from the trunk's layer-n output:

    image -> conv1 -> ... -> layer N (frozen, once) ─┬─ tap 1 -> head 1 (layers 2..8 of A1B)
                                                     ├─ tap 2 -> head 2 (layers 3..8 of A2B)
                                                     └─ tap N -> head N (fc8 of ANB)

The loss is the sum of the heads' losses (plus each head's own weight decay); a head's variables
appear only in its own loss, so each head gets exactly the gradient, momentum and learning rate
it would get alone (tests/test_fused.py checks the weights after k steps against separate
training). Afterwards each head's net is an ordinary standalone model (its own layers 1..n hold
the trunk's weights), saved and recorded like any net. Which nets form a group, and the group's
resume state, are the experiment's (`experiment.groups`); training it is `training.fit`'s, the
same path as one net's.

Deliberate differences from training the nets one at a time, recorded in each net's manifest
under "fused":
- Common random numbers: all heads of a group see the same batches (the group's seed), and a
  dropout mask inside the trunk (drop6 for heads reading fc7) is shared; one-at-a-time nets each
  draw their own data order. Both are valid designs; comparisons between n become paired.
- The random-filter nets random1..random7 share one random trunk (the init drawn for the
  largest n) instead of each drawing its own. Every random<n> is still "layers 1..n random and
  frozen"; they are just the same random draw, as AnB nets share baseA.
"""

import keras

from keras_transfer.nets import backbones, transfer


def build_heads(nets, trunk_source, arch, seeds, names=None):
    """Standalone nets (one per n) whose layers 1..n equal the shared trunk's.

    nets: the group, sorted by n. trunk_source: the parent base model, or None for random
    filters (then the largest-n net's random init is the shared trunk), or a list of one
    parent per net (LP-FT nets side by side: each continues its own AnB). seeds[i]: the init
    seed of nets[i] (the same as in one-at-a-time training, so the fresh layers start identical).
    """
    sources = trunk_source if isinstance(trunk_source, list) else [trunk_source] * len(nets)
    models = []
    for i, (net, seed, source) in enumerate(zip(nets, seeds, sources, strict=True)):
        keras.utils.set_random_seed(seed)
        models.append(transfer.build(arch, net.n, net.mode, source=source,
                                     name=names[i] if names else f"caffenet{net.n}"))
    if nets[0].mode not in transfer.SHARED_TRUNK:
        return models  # no shared trunk: each net copied its layers from the source itself
    trunk = models[-1]
    for net, model in zip(nets[:-1], models[:-1]):
        transfer.copy_blocks(trunk, model, net.n)
    return models


def model(nets, models):
    """One model with one output per net, in order. Nets of a shared-trunk mode (frozen, random
    frozen, truncate): the largest net's frozen blocks 1..N, then one head per net reading its
    cut n. Other modes (fine-tuned, surgical): each whole net."""
    trunk_net = models[-1]
    image = keras.Input(trunk_net.input.shape[1:], name="image")
    if nets[0].mode not in transfer.SHARED_TRUNK:
        heads, features = models, [image] * len(nets)
    else:
        taps = keras.Model(trunk_net.input,
                           [backbones.cut_tensor(trunk_net, net.n) for net in nets], name="trunk")
        features = taps(image)
        heads = [keras.Model(backbones.cut_tensor(model, net.n), model.output,
                             name=f"head{net.n}") for net, model in zip(nets, models)]
    outputs = []
    for net, head, x in zip(nets, heads, features):
        # Distinct output names, so Keras reports head<n>_loss, val_head<n>_top1, ...; float32
        # like the nets' own softmax (under a mixed policy Identity would cast to bf16/fp16).
        outputs.append(keras.layers.Identity(name=f"out{net.n}", dtype="float32")(head(x)))
    return keras.Model(image, outputs, name="fused")
