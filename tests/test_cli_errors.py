"""Mistakes a user or a damaged disk can cause, through tune, prepare, report and export (the
sweep's are tests/reliability/test_bad_input.py, but for a few flags here): exit code != 0, one
`error:` line naming the thing, no traceback, and every file already there untouched. Each
fails before any training."""

import json
import os
import subprocess
import sys
import types

import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--steps=2", "--eval_every=1", "--algorithm=random", "--max_trials=1"]  # tune


def image_tree(root, empty=None):
    """ROOT/{train,val}/{a,b}/ with two tiny JPEGs each; class `empty` has none in train."""
    for split in ("train", "val"):
        for c, name in enumerate("ab"):
            os.makedirs(root / split / name)
            for j in range(0 if (split, name) == ("train", empty) else 2):
                image = Image.new("RGB", (8, 8), (120 * c, 90 * j, 60))
                image.save(root / split / name / f"{j}.jpg")
    return root


def regular_file(tmp_path):
    (tmp_path / "file").write_text("a regular file, not a directory\n")
    return tmp_path / "file"


def results(tmp_path, text):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "results.jsonl").write_bytes(text)
    return f"--workdir={tmp_path / 'work'}"


ROW = {"net": "baseA", "kind": "base", "n": 0, "fine_tune": False, "split": "natural_manmade",
       "split_seed": None, "seed": 0, "source": None, "target": "A", "top1_best10": 0.5,
       "top1": 0.5}


def case_tune_missing_folder(t):
    return "tune", [f"--dataset=folder:{t}/missing", f"--workdir={t}/tune", *FAST], \
        "missing/train is not a directory"


def case_tune_unknown_split_file(t):
    return "tune", [f"--dataset=folder:{image_tree(t / 'tree')}", f"--split={t}/nosuch.json",
                    f"--workdir={t}/tune", *FAST], "nosuch.json' is neither"


def case_tune_workdir_under_a_file(t):
    return "tune", [f"--workdir={regular_file(t)}/tune", *FAST], "file/tune' is not writable"


def case_tune_extra_argument(t):
    return "tune", [f"--workdir={t}/tune", "search"], "unexpected arguments ['search']"


def case_prepare_missing_root(t):
    return "prepare", [f"--dataset=folder:{t}/missing", f"--out={t}/out"], \
        "missing is not a directory"


def case_prepare_old_flag_name(t):
    # --source, the flag's name until it became --dataset (the sweep's word), still works.
    return "prepare", [f"--source=folder:{t}/missing", f"--out={t}/out"], \
        "missing is not a directory"


def case_prepare_without_a_dataset(t):
    return "prepare", [f"--out={t}/out"], "pass --dataset=folder:ROOT"


def case_prepare_empty_class_folder(t):
    return "prepare", [f"--dataset=folder:{image_tree(t / 'tree', empty='b')}",
                       f"--out={t}/out"], \
        "train/b holds no images"


def case_prepare_out_under_a_file(t):
    return "prepare", [f"--dataset=folder:{image_tree(t / 'tree')}",
                       f"--out={regular_file(t)}/out"], \
        "file/out: Not a directory; --out must be a writable directory"


def case_report_missing_workdir(t):
    return "report", [f"--workdir={t}/missing"], "missing/results.jsonl: no such file"


def case_report_workdir_without_results(t):
    return "report", [f"--workdir={t}"], f"{t}/results.jsonl: no such file"


def case_report_garbage_lines(t):
    return "report", [results(t, b"hello\n{{{\nworld\n")], "results.jsonl:1: not a JSON object"


def case_report_binary_results(t):  # was a UnicodeDecodeError traceback
    return "report", [results(t, b"\xff\xfe\x00\x9c" * 64)], "results.jsonl is not text"


def case_report_out_dir_under_a_file(t):  # was a NotADirectoryError traceback
    return "report", [results(t, (json.dumps(ROW) + "\n").encode()),
                      f"--out_dir={regular_file(t)}/report"], "file/report: Not a directory"


def case_report_negative_margin(t):
    return "report", [f"--workdir={t}", "--margin=-0.1"], "--margin=-0.1: must be a positive"


def case_report_positional_workdir(t):  # was ignored: a report of nothing
    return "report", [str(t)], "unexpected arguments"


def case_export_missing_run_dir(t):
    return "export", [f"--run_dir={t}/missing"], "missing not found: --run_dir must be"


def case_export_not_a_run_dir(t):
    return "export", [f"--run_dir={t}"], "manifest.json is missing or unreadable"


def case_export_no_run_dir(t):
    return "export", [], "--run_dir is required"


# Each of these loads TensorFlow (~8 s) only to fail like a faster case of the same command.
SLOW = {"tune_missing_folder", "tune_unknown_split_file", "prepare_missing_root",
        "prepare_empty_class_folder", "export_not_a_run_dir", "export_no_run_dir"}

# tune refuses these values before it loads anything (KerasTuner failed in a trial, or waited
# forever for --max_trials=0): the flag as given, then what the error says about it.
TUNE_FLAGS = [("--learning_rate_range=a,b", "not a list of numbers"),
              ("--learning_rate_range=0.1", "must be LOW,HIGH"),
              ("--weight_decay_range=0.1,0.001", "must be LOW,HIGH"),
              ("--batch_sizes=0", "must be one or more positive integers"),
              ("--max_trials=0", "must be at least 1")]


def tune_flag_case(flag, says):
    return lambda t: ("tune", [f"--workdir={t}/tune", *FAST, flag], f"{flag}: {says}")


CASES = [pytest.param(case, id=name[5:], marks=[pytest.mark.slow] if name[5:] in SLOW else [])
         for name, case in sorted(globals().items()) if name.startswith("case_")]
CASES += [pytest.param(tune_flag_case(flag, says), id=f"tune{flag}") for flag, says in TUNE_FLAGS]


def files_under(root):
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def the_error_line(module, args, tmp_path):
    """The one `error:` line of a command that fails without a traceback or writing a file."""
    before = files_under(tmp_path)
    out = subprocess.run([sys.executable, "-m", f"keras_transfer.{module}", *args],
                         check=False, capture_output=True, text=True, cwd=REPO, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CI": "true"})
    assert out.returncode != 0, out.stdout[-2000:]
    assert "Traceback" not in out.stdout + out.stderr, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out.stderr[-3000:]
    assert files_under(tmp_path) == before
    return errors[0]


@pytest.mark.parametrize("case", CASES)
def test_a_user_error_is_one_clear_line_and_loses_nothing(case, tmp_path):
    module, args, expected = case(tmp_path)
    assert expected in the_error_line(module, args, tmp_path)


BOUNDS = "--helpshort lists the flags and their bounds"


# A flag absl refuses (out of its bounds) is one `error:` line too, not absl's two FATAL lines;
# the sweep's is refused before TensorFlow loads, prepare's after (it imports it).
def exact_sweep_bad_fraction(t):
    return "sweep", ["--flagfile=flags/tiny.flags", f"--workdir={t}/work",
                     "--max_bad_fraction=-1"], \
        f"error: --max_bad_fraction=-1: -1.0 is not a number in the range [0.0, 1.0]; {BOUNDS}"


def exact_prepare_bad_fraction(t):
    return "prepare", [f"--dataset=folder:{image_tree(t / 'tree')}", f"--out={t}/out",
                       "--max_bad_fraction=2"], \
        f"error: --max_bad_fraction=2: 2.0 is not a number in the range [0.0, 1.0]; {BOUNDS}"


def exact_sweep_workdir_is_a_file(t):  # was "not writable (File exists)"
    file = regular_file(t)
    return "sweep", ["--flagfile=flags/tiny.flags", f"--workdir={file}"], \
        f"error: workdir '{file}' is a file, not a directory; choose another --workdir"


@pytest.mark.parametrize("case", [exact_sweep_bad_fraction, exact_prepare_bad_fraction,
                                  exact_sweep_workdir_is_a_file], ids=lambda c: c.__name__[6:])
def test_a_bad_flag_is_named_in_one_exact_line(case, tmp_path):
    module, args, expected = case(tmp_path)
    assert the_error_line(module, args, tmp_path) == expected


# The messages themselves, in this process: each command prints `error: {message}`.

RECIPE = types.SimpleNamespace(steps=4, eval_every=2, lr_step=1000, lr_policy="step",
                               warmup_steps=0, momentum=0.9, seed=0)  # flags/tiny.flags'


@pytest.mark.parametrize("flag,value,message", [
    ("steps", 0, "--steps=0: a net needs at least 1 training step"),  # was TrainConfig(...)
    ("eval_every", 0, "--eval_every=0: must be at least 1 (training runs in epochs of "
     "eval_every steps, each ending in an evaluation)"),
    ("batch_size", 0, "--batch_size=0: a batch needs at least 1 image")])
def test_a_recipe_flag_below_1_is_named(flag, value, message):
    """The sweep's and tune's recipe flags, as both commands turn them into a TrainConfig."""
    from keras_transfer import cli
    values = {**vars(RECIPE), "batch_size": 16, flag: value}
    with pytest.raises(ValueError) as error:
        cli.recipe(types.SimpleNamespace(**values), batch_size=values["batch_size"])
    assert str(error.value) == message


@pytest.mark.parametrize("text,message", [
    ("3-1", "--layers='3-1': the range 3-1 is reversed; write the low end first: 1-3"),
    ("1,5-2", "--layers='1,5-2': the range 5-2 is reversed; write the low end first: 2-5")])
def test_a_reversed_layer_range_says_so(text, message):  # was "bad: empty"
    from keras_transfer.experiment import plan
    with pytest.raises(ValueError) as error:
        plan.parse_layers(text, "caffenet_small")
    assert str(error.value) == message


def test_an_export_run_dir_that_is_a_file_says_so(tmp_path):  # was "not found"
    from keras_transfer import export
    file = regular_file(tmp_path)
    with pytest.raises(export.ExportError) as error:
        export.export_run(str(file))
    assert str(error.value) == (f"{file} is a file, not a run directory: --run_dir must be a "
                                "finished net's run directory (WORKDIR/runs/r<i>/<net>)")
    assert files_under(tmp_path) == {file: b"a regular file, not a directory\n"}


def test_the_old_name_of_pretrained_still_works_and_says_so(tmp_path):
    # --source named the pretrained file until it became --pretrained ("source" is the copied
    # half); the old name is read as the new one, with one warning line.
    out = subprocess.run([sys.executable, "-m", "keras_transfer.sweep",
                          "--flagfile=flags/tiny.flags", f"--workdir={tmp_path}/work",
                          f"--source={tmp_path}/missing.keras"],
                         check=False, capture_output=True, text=True, cwd=REPO, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CI": "true"})
    lines = out.stderr.splitlines()
    assert "warning: --source is now --pretrained; --source will be removed" in lines
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        f"error: --pretrained={tmp_path}/missing.keras: no such file"), out.stderr[-2000:]
    assert not (tmp_path / "work").exists()
