import pytest

from keras_transfer.experiment import plan
from keras_transfer.experiment.config import SweepConfig, data_seed, init_seed


def names(nets):
    return [n.name for n in nets]


def test_paper_plan_has_every_net_once_bases_first():
    nets = plan.make_plan(range(1, 8), plan.PAPER_EXPERIMENTS)
    assert len(nets) == 3 + 7 * 9 and len(set(names(nets))) == len(nets)
    assert names(nets)[:3] == ["baseA", "baseB", "baseAll"]
    a3b = next(n for n in nets if n.name == "A3B+")
    assert (a3b.kind, a3b.source, a3b.target, a3b.n, a3b.fine_tune, a3b.parent, a3b.mode) == (
        "transfer", "A", "B", 3, True, "baseA", "fine_tune")
    b5b = next(n for n in nets if n.name == "B5B")
    assert (b5b.kind, b5b.mode, b5b.parent) == ("selffer", "frozen", "baseB")
    r2 = next(n for n in nets if n.name == "random2")
    assert (r2.target, r2.mode, r2.parent) == ("all", "random_frozen", None)


def test_dependants_pull_in_their_bases_only():
    assert names(plan.make_plan([2], ["transfer"])) == [
        "baseA", "baseB", "B2A", "B2A+", "A2B", "A2B+"]
    assert names(plan.make_plan([1, 2], ["random_filters"], halves=())) == [
        "baseAll", "random1", "random2"]


def test_split_none_refuses_transfer():
    with pytest.raises(ValueError, match="two halves"):
        plan.make_plan([1], ["transfer"], halves=())


def test_reduced_and_target_sizes():
    nets = plan.make_plan([3], ["base", "transfer", "selffer", "reduced"], per_class=[1, 25],
                          target_per_class=[10])
    by_name = {n.name: n for n in nets}
    assert {"reduced0001", "reduced0025"} <= set(by_name)
    assert by_name["reduced0025"].sizes() == {"per_class": 25, "target_per_class": None}
    sized = sorted(n for n in by_name if n.endswith("@k10"))
    assert sized == ["A3B+@k10", "A3B@k10", "B3B+@k10", "B3B@k10", "baseB@k10"]
    assert by_name["A3B@k10"].parent == "baseA"  # the source stays trained on its full half
    assert by_name["A3B@k10"].sizes() == {"per_class": None, "target_per_class": 10}
    with pytest.raises(ValueError, match="--per_class"):
        plan.make_plan([1], ["reduced"])


@pytest.mark.parametrize("text,expected", [("1-7", list(range(1, 8))), ("3,1", [1, 3]),
                                           ("2", [2])])
def test_parse_layers(text, expected):
    assert plan.parse_layers(text) == expected


@pytest.mark.parametrize("text", ["abc", "0", "8", "1-9", ""])
def test_parse_layers_errors(text):
    with pytest.raises(ValueError, match="--layers"):
        plan.parse_layers(text)


@pytest.mark.parametrize("text", ["0", "-5", "a,b", "2.5"])
def test_parse_sizes_errors(text):
    with pytest.raises(ValueError, match="--per_class"):
        plan.parse_sizes(text, "per_class")


def test_parse_sizes():
    assert plan.parse_sizes("80,5,20,5", "per_class") == [5, 20, 80]
    assert plan.parse_sizes("", "per_class") == []


def test_replicates_repeat_every_net_with_its_own_parents():
    one = plan.make_plan([1, 2], plan.PAPER_EXPERIMENTS)
    nets = plan.make_plan([1, 2], plan.PAPER_EXPERIMENTS, replicates=3)
    assert len(nets) == 3 * len(one)
    keys = [n.key for n in nets]
    assert len(set(keys)) == len(keys) and "r2/A2B+" in keys and "r0/baseAll" in keys
    # every replicate's bases come before any dependant, so every parent is trained first
    first_dependant = next(i for i, n in enumerate(nets) if n.kind not in ("base", "reduced"))
    assert {n.kind for n in nets[:first_dependant]} == {"base"} and first_dependant == 9
    seen = set()
    for net in nets:
        assert net.parent_key is None or net.parent_key in seen
        seen.add(net.key)
    a2b = next(n for n in nets if n.key == "r1/A2B")
    assert (a2b.parent, a2b.parent_key, a2b.replicate) == ("baseA", "r1/baseA", 1)
    assert a2b.hparams()["replicate"] == 1


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_replicates_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="--replicates"):
        plan.make_plan([1], ["base"], replicates=bad)


def test_seeds_pair_dependants_across_n_and_kind_not_across_replicates():
    config = SweepConfig(workdir="unused")
    nets = {n.key: n for n in plan.make_plan([1, 2, 3], plan.PAPER_EXPERIMENTS, replicates=2)}
    init = lambda key: init_seed(config, nets[key])  # noqa: E731
    data = lambda key: data_seed(config, nets[key])  # noqa: E731
    # common random numbers: one fresh-layer init and one data order per (replicate, target)
    assert init("r0/A1B") == init("r0/A3B") == init("r0/B2B+") == init("r0/A3B+")
    assert data("r0/A1B") == data("r0/B3B") == data("r0/A2B+")
    assert init("r0/A1B") != init("r0/B1A")          # other target half
    assert init("r0/A1B") != init("r1/A1B")          # other replicate
    assert data("r0/A1B") != data("r1/A1B")
    assert init("r0/baseB") != init("r0/B1B")        # fresh layers are not the base's init
    assert init("r0/baseB") != init("r1/baseB") and init("r0/random1") == init("r0/random3")
