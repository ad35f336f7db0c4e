"""The sweep's precision from the hardware: bfloat16 where the CPU has it natively or on a GPU,
float32 where it would be emulated; asked for explicitly it is kept; a workdir keeps the
precision it started with."""

import json

import pytest

from keras_transfer import hardware
from keras_transfer.experiment import config
from keras_transfer.experiment.config import choose_precision

CPUINFO = """processor\t: 0
model name\t: {name}
flags\t\t: fpu sse sse2 avx2 avx512f {extra}
"""


def cpuinfo(tmp_path, name, extra):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(name=name, extra=extra) * 2)
    return str(path)


def test_the_cpu_kind_and_its_bfloat16_from_cpuinfo(tmp_path):
    epyc = cpuinfo(tmp_path, "AMD EPYC 9R14", "avx512_bf16 avx512_vnni")
    assert hardware.cpu_info(epyc) == ("AMD EPYC 9R14", {"fpu", "sse", "sse2", "avx2", "avx512f",
                                                         "avx512_bf16", "avx512_vnni"})
    assert hardware.cpu_kind(epyc).startswith("AMD EPYC 9R14, ")
    assert hardware.cpu_kind(epyc).endswith("cores, native bfloat16 (avx512_bf16)")
    xeon = cpuinfo(tmp_path, "Intel(R) Xeon(R) Platinum 8375C", "avx512_vnni")
    assert hardware.cpu_kind(xeon).endswith("no native bfloat16")
    assert hardware.cpu_info(str(tmp_path / "absent")) == ("unknown", set())


@pytest.mark.parametrize("flags, gpu, expected", [
    ({"avx512f", "avx512_bf16"}, False, "bfloat16"),  # AMD EPYC (Zen 4) or Intel Cooper Lake
    ({"avx512f", "amx_bf16", "amx_tile"}, False, "bfloat16"),  # Intel Sapphire Rapids
    ({"avx512f", "avx512_vnni"}, False, "float32"),  # Xeon with AVX512 but no BF16: emulated
    (set(), False, "float32"),
    ({"avx2"}, True, "bfloat16"),  # a GPU: Keras' mixed policy computes in float16 there
])
def test_auto_chooses_from_the_cpu_flags(flags, gpu, expected):
    assert hardware.choose_precision("auto", flags, gpu) == expected


def test_an_explicit_choice_is_kept_and_a_bad_one_refused():
    assert hardware.choose_precision("bfloat16", set()) == "bfloat16"
    assert hardware.choose_precision("float32", {"avx512_bf16"}) == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        hardware.choose_precision("fp8")
    assert hardware.precision_reason("bfloat16", "auto") == "native on this CPU"
    assert hardware.precision_reason("float32", "auto") == (
        "bfloat16 would be emulated on this CPU")
    assert hardware.precision_reason("bfloat16", "auto", gpu=True) == "a GPU"


def test_a_workdir_keeps_the_precision_it_started_with(tmp_path, monkeypatch):
    monkeypatch.setattr(config.tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(hardware, "cpu_info", lambda path=None: ("x", {"avx512_bf16"}))
    assert choose_precision(None, str(tmp_path)) == (True, "native on this CPU")
    monkeypatch.setattr(hardware, "cpu_info", lambda path=None: ("x", {"avx2"}))
    assert choose_precision(None, str(tmp_path)) == (False,
                                                     "bfloat16 would be emulated on this CPU")
    # Started in bfloat16 on another host: this host's choice does not split the workdir.
    (tmp_path / "sweep.json").write_text(json.dumps({"mixed_precision": True, "steps": 4}))
    assert choose_precision(None, str(tmp_path)) == (
        True, f"the precision {tmp_path} started with")
    # Asked for explicitly: as asked (check_sweep then refuses a mismatch, nothing lost).
    assert choose_precision(False, str(tmp_path)) == (False, "as asked")
