"""The input and the head that every backbone but CaffeNet shares: mean-subtracted floats times
`input_scale` in; a global average pool (over the map, or over a ViT's tokens), dropout, the
`classifier` and a float32 softmax out. The layer names are part of the layer axis and of saved
models, so they stay as they are."""

import keras
from keras import layers


def image_input(arch):
    """(the model's input, the scaled image the trunk reads)."""
    image = keras.Input((arch.input_size, arch.input_size, 3), name="image")
    return image, layers.Rescaling(arch.input_scale, name="input_scale")(image)


def with_classifier(image, features, arch, name):
    """The functional model from `image` through the trunk's `features` to the softmax."""
    pool = layers.GlobalAveragePooling1D if len(features.shape) == 3 else \
        layers.GlobalAveragePooling2D
    x = pool(name="avg_pool")(features)
    x = layers.Dropout(arch.dropout, name="drop")(x)
    logits = layers.Dense(arch.num_classes, name="classifier")(x)
    probs = layers.Activation("softmax", dtype="float32", name="prob")(logits)
    return keras.Model(image, probs, name=name)
