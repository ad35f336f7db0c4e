"""What the host can compute fast, read without Keras: the CPU's kind and whether it has native
bfloat16, and from those the precision a sweep trains in (`choose_precision`).

bfloat16 is fast on GPUs and on CPUs with bfloat16 instructions (AVX512-BF16, AMX); elsewhere
TensorFlow emulates it, slower than float32 (BENCHMARKS.md, "mixed_bfloat16, threads, XLA").
"""

import os

CPUINFO = "/proc/cpuinfo"
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")
AUTO, FLOAT32, BFLOAT16 = "auto", "float32", "bfloat16"
PRECISIONS = (AUTO, FLOAT32, BFLOAT16)


def cpu_info(path=CPUINFO):
    """(model name, set of flags) of the first processor in /proc/cpuinfo; ("unknown", set())
    where the file cannot be read (not Linux)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return "unknown", set()
    name, found = "unknown", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name == "unknown":
            name = value.strip()
        elif key.strip() == "flags" and not found:
            found = set(value.split())
    return name, found


def native_bfloat16(cpu_flags):
    """Whether a CPU with these /proc/cpuinfo flags computes bfloat16 natively."""
    return any(flag in cpu_flags for flag in BFLOAT16_FLAGS)


def cpu_kind(path=CPUINFO):
    """The CPU's kind as BENCHMARKS.md records it beside a timing, e.g.
    "AMD EPYC, 2 cores, native bfloat16 (avx512_bf16)"."""
    name, cpu_flags = cpu_info(path)
    bf16 = sorted(f for f in BFLOAT16_FLAGS if f in cpu_flags)
    return (f"{name}, {os.cpu_count()} cores, "
            + (f"native bfloat16 ({', '.join(bf16)})" if bf16 else "no native bfloat16"))


def choose_precision(requested=AUTO, cpu_flags=None, gpu=False):
    """The precision a sweep trains in: `requested` unless it is "auto", else bfloat16 compute
    (float16 on a GPU, where Keras' mixed policy picks it) where it is native, float32 where it
    would be emulated. cpu_flags: /proc/cpuinfo's flags (read when None)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    if requested != AUTO:
        return requested
    if gpu:
        return BFLOAT16
    if cpu_flags is None:
        cpu_flags = cpu_info()[1]
    return BFLOAT16 if native_bfloat16(cpu_flags) else FLOAT32


def precision_reason(precision, requested=AUTO, gpu=False):
    """One phrase for the console's header: why `choose_precision` gave `precision`."""
    if requested != AUTO:
        return "as asked"
    if gpu:
        return "a GPU"
    return ("native on this CPU" if precision == BFLOAT16
            else "bfloat16 would be emulated on this CPU")
