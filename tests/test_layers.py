"""The package's floors: flags -> config -> data -> model -> train -> results -> report, with no
import back up and no circle (imports inside functions count too)."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_transfer"

# Lowest first. A module may import its own floor and the floors below it, never one above.
FLOORS = {
    "catalog": 0, "files": 0, "hardware": 0, "runtime": 0,
    "data": 1, "nets": 2, "training": 3, "diagnostics": 3, "experiment": 4, "reporting": 5,
    "sweep": 6, "report": 6, "export": 6, "tune": 6, "bench": 6, "prepare": 6, "diagnose": 6,
    "cli": 6,
}
MAX_LINES = 350


def module_names():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


MODULES = dict(module_names())


def floor(module):
    parts = module.split(".")
    return FLOORS[parts[1]] if len(parts) > 1 else -1


def imports(path):
    """The keras_transfer modules `path` imports (a name imported from a package counts as its
    module when it is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("keras_transfer."))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_transfer"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found - {"keras_transfer"}


GRAPH = {name: imports(path) for name, path in MODULES.items()}


def test_every_module_has_a_floor():
    assert {floor(m) for m in MODULES if m != "keras_transfer"} <= set(FLOORS.values())
    assert "keras_transfer.training.fit" in MODULES or "keras_transfer.training.train" in MODULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_from_a_higher_floor(module):
    upward = sorted(m for m in GRAPH[module] if floor(m) > floor(module))
    assert not upward, f"{module} (floor {floor(module)}) imports {upward} from above"


def test_the_import_graph_has_no_circle():
    state, circles = {}, []

    def visit(module, path):
        state[module] = "open"
        for dep in sorted(GRAPH.get(module, ())):
            if dep == module or dep not in GRAPH:
                continue
            if state.get(dep) == "open":
                circles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not circles, f"import circles: {circles}"


def test_the_graph_sees_imports_inside_functions():
    # tune imports its heavy modules inside functions (fast --help): they must be seen.
    assert "keras_transfer.training.train" in GRAPH["keras_transfer.tune"] or any(
        m.startswith("keras_transfer.training") for m in GRAPH["keras_transfer.tune"])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_the_size_limit(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines (split it by concept)"


def test_sweep_lists_the_models_cut_points():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "keras_transfer.sweep", "--model=caffenet_mini",
                          "--list_cut_points"], capture_output=True, text=True, timeout=120,
                         check=True).stdout.splitlines()
    assert out[0].startswith("caffenet_mini: 7 cut points")
    assert out[1:] == [f"  n={n}  after {name}" for n, name in enumerate(
        ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"), 1)]
    mobilenet = subprocess.run([sys.executable, "-m", "keras_transfer.sweep",
                                "--model=mobilenetv3_mini", "--list_cut_points"],
                               capture_output=True, text=True, timeout=120,
                               check=True).stdout.splitlines()
    assert mobilenet[0].endswith("the classifier (classifier) is always new")
    assert mobilenet[1:] == [f"  n={n}  after {name}" for n, name in enumerate(
        ("stem", "block0", "blocks1-2", "blocks3-5", "blocks6-7", "blocks8-10", "conv_1"), 1)]
    resnet = subprocess.run([sys.executable, "-m", "keras_transfer.sweep",
                             "--model=resnet50", "--list_cut_points"],
                            capture_output=True, text=True, timeout=120,
                            check=True).stdout.splitlines()
    assert resnet[1:] == [f"  n={n}  after {name}" for n, name in enumerate(
        ("stem", "conv2", "conv3_block2", "conv3", "conv4_block3", "conv4", "conv5"), 1)]
    bad = subprocess.run([sys.executable, "-m", "keras_transfer.sweep", "--model=resnet9000",
                          "--list_cut_points"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "caffenet_mini" in bad.stderr  # names the known models
    assert "Traceback" not in bad.stderr
