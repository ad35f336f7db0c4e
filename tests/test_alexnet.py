import keras
import numpy as np
import pytest

from keras_transfer.nets import alexnet


def small(num_classes=10):
    return alexnet.caffenet(num_classes, input_size=32, width=0.25, fc_units=64)


@pytest.mark.parametrize("classes,params", [(500, 58_916_724), (1000, 60_965_224)])
def test_paper_parameter_counts(classes, params):
    assert alexnet.caffenet(num_classes=classes).count_params() == params


def test_layers_are_named_and_indexed():
    model = small()
    assert [alexnet.layer(model, n).name for n in range(1, 9)] == [
        "conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    assert alexnet.layer(model, 2).groups == 2 and alexnet.layer(model, 3).groups == 1
    with pytest.raises(ValueError, match="1..8"):
        alexnet.layer(model, 9)


def test_full_net_shapes_match_caffe():
    model = alexnet.caffenet(num_classes=500)
    shapes = {name: model.get_layer(name).output.shape[1:] for name in
              ("conv1", "pool1", "conv2", "pool2", "conv5", "pool5", "fc8")}
    assert shapes == {"conv1": (55, 55, 96), "pool1": (27, 27, 96), "conv2": (27, 27, 256),
                      "pool2": (13, 13, 256), "conv5": (13, 13, 256), "pool5": (6, 6, 256),
                      "fc8": (500,)}


def test_caffe_init_and_decay():
    model = small()
    assert np.all(alexnet.layer(model, 1).get_weights()[1] == 0)
    assert np.all(alexnet.layer(model, 2).get_weights()[1] == 1)
    assert np.all(alexnet.layer(model, 6).get_weights()[1] == 1)
    fc6_std = alexnet.layer(alexnet.caffenet(10), 6).get_weights()[0].std()
    assert abs(fc6_std - 0.005) < 2e-4
    reg = alexnet.layer(model, 1).kernel_regularizer
    assert reg.l2 == pytest.approx(2.5e-4)  # Caffe's 0.5 * 5e-4 * ||w||^2
    assert alexnet.layer(model, 1).bias_regularizer is None


def test_grouped_conv_equals_native_groups():
    x = np.random.RandomState(0).randn(2, 9, 9, 8).astype("float32")
    grouped = alexnet.GroupedConv2D(6, 3, groups=2, padding="same")
    native = keras.layers.Conv2D(6, 3, groups=2, padding="same")
    grouped.build(x.shape), native.build(x.shape)
    native.set_weights(grouped.get_weights())
    np.testing.assert_allclose(grouped(x), native(x), rtol=1e-5, atol=1e-5)


def test_lrn_matches_caffe_formula():
    x = np.random.RandomState(1).rand(1, 2, 2, 7).astype("float32") * 10
    out = np.asarray(alexnet.LocalResponseNorm()(x))
    sq = np.pad(x ** 2, [(0, 0), (0, 0), (0, 0), (2, 2)])
    window = sum(sq[..., i:i + 7] for i in range(5))
    np.testing.assert_allclose(out, x / (1 + 1e-4 / 5 * window) ** 0.75, rtol=1e-5)


def test_keras_file_round_trip(tmp_path):
    model = small()
    x = np.random.RandomState(2).randn(3, 32, 32, 3).astype("float32")
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0),
                               rtol=1e-6)
    assert isinstance(again.get_layer("norm1"), alexnet.LocalResponseNorm)
    assert again.get_layer("conv4").get_config() == model.get_layer("conv4").get_config()


def test_architecture_lookup():
    arch = alexnet.architecture("caffenet_small", 20)
    assert alexnet.build(arch).input_shape == (None, 32, 32, 3)
    with pytest.raises(ValueError, match="unknown model"):
        alexnet.architecture("vgg", 10)


def test_the_keras_free_catalog_names_what_alexnet_builds():
    from keras_transfer import catalog
    assert catalog.CAFFENET_MODELS == tuple(sorted(alexnet.MODELS))
    assert catalog.NUM_LAYERS == len(alexnet.LAYER_NAMES) == 8
    assert catalog.NS == tuple(range(1, catalog.max_n("caffenet") + 1)) == (1, 2, 3, 4, 5, 6, 7)
    for name in catalog.CAFFENET_MODELS:  # every model's layers are named by its axis
        model = alexnet.build(alexnet.architecture(name, 10))
        assert [alexnet.layer(model, i).name for i in range(1, catalog.NUM_LAYERS + 1)] == \
            list(catalog.layer_axis(name))
        assert catalog.max_n(name) == 7
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        catalog.layer_axis("resnet")
