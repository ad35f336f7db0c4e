"""Bad input through the CLI: one clear `error:` line, no traceback, exit code != 0, and the
finished results in the workdir stay byte-identical."""

import json
import os

import pytest

from .common import error_lines, run_cli, tree_digest
from images import jpeg, write_broken_images


def image_tree(root, classes=("a", "b", "c", "d"), train=5, val=2):
    for c, name in enumerate(classes):
        for split, n in (("train", train), ("val", val)):
            os.makedirs(root / split / name, exist_ok=True)
            for j in range(n):
                (root / split / name / f"img{j}.JPEG").write_bytes(jpeg((60 * c, 40 * j, 90)))
    return root


def add_broken_images(root):
    """Broken and odd files in train/a: see images.write_broken_images."""
    write_broken_images(root / "train" / "a", root / "train" / "a")
    return root


def split_file(tmp_path, a, b):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"A": a, "B": b}))
    return f"--split={path}"


def case_missing_dataset(tmp_path):
    return ["--dataset=folder:/nonexistent"], "/nonexistent/train is not a directory"


def case_empty_class_folder(tmp_path):
    tree = image_tree(tmp_path / "tree")
    for f in (tree / "train" / "b").iterdir():
        f.unlink()
    return [f"--dataset=folder:{tree}", "--split=none"], "train/b holds no images"


def case_split_unknown_class(tmp_path):
    return [split_file(tmp_path, ["natural_clouds", "natural_unicorns"], ["manmade_grid"])], \
        "unknown class 'natural_unicorns' in half A"


def case_split_duplicate_class(tmp_path):
    return [split_file(tmp_path, ["natural_clouds", "natural_clouds"], ["manmade_grid"])], \
        "'natural_clouds' appears twice in half A"


def case_split_overlapping_halves(tmp_path):
    return [split_file(tmp_path, ["natural_clouds", "manmade_grid"], ["manmade_grid"])], \
        "['manmade_grid'] are in both halves"


def case_split_one_class_half(tmp_path):
    return [split_file(tmp_path, ["natural_clouds"], ["manmade_grid", "manmade_bricks"])], \
        "baseA would train on 1 class(es) (half A"


def case_split_not_json(tmp_path):
    (tmp_path / "split.json").write_text("{A: natural")
    return [f"--split={tmp_path / 'split.json'}"], "cannot read split file"


def case_layers_9(tmp_path):
    return ["--layers=9"], "every n must be in 1..7"


def case_layers_0(tmp_path):
    return ["--layers=0-3"], "every n must be in 1..7"


def case_layers_past_a_backbones_axis(tmp_path):
    return ["--model=resnet_mini", "--layers=8"], (
        "every n must be in 1..7 for resnet_mini (n is the number of copied layers; the "
        "classifier is never copied); bad: [8]")


def case_layers_abc(tmp_path):
    return ["--layers=abc"], "is not 'all' or a list of integers"


def case_unknown_scheme(tmp_path):
    return ["--dataset=s3:bucket/imagenet"], "unknown data source 's3:bucket/imagenet'"


def case_unknown_experiment(tmp_path):
    return ["--experiments=base,transfre"], "unknown experiments ['transfre']"


def case_broken_images_above_max_bad_fraction(tmp_path):
    tree = add_broken_images(image_tree(tmp_path / "tree"))
    return [f"--dataset=folder:{tree}", "--split=none"], \
        "3 of 35 files in"


def case_symlink_loop_in_folder_tree(tmp_path):
    tree = image_tree(tmp_path / "tree")
    loop = tree / "train" / "b" / "loop.JPEG"
    loop.symlink_to(loop)
    return [f"--dataset=folder:{tree}", "--split=none"], \
        "loop.JPEG: Too many levels of symbolic links; fix or remove it"


def case_extra_argument(tmp_path):
    return ["train"], "unexpected arguments ['train']"


CASES = [case for name, case in sorted(globals().items()) if name.startswith("case_")]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_bad_input_is_one_clear_error_and_loses_nothing(finished_copy, tmp_path, case):
    args, expected = case(tmp_path)
    before = tree_digest(finished_copy)
    out = run_cli(finished_copy, "--experiments=base", *args)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    errors = error_lines(out.stderr)
    assert len(errors) == 1, out.stderr[-3000:]
    assert expected in errors[0], errors[0]
    assert tree_digest(finished_copy) == before


@pytest.mark.slow
def test_broken_images_below_max_bad_fraction_are_skipped_and_counted(tmp_path):
    """The documented behaviour: files the listing scan rejects are skipped and listed, files
    that fail only when decoded are dropped and counted, and the net trains on the rest."""
    tree = add_broken_images(image_tree(tmp_path / "tree"))
    out = run_cli(tmp_path / "work", f"--dataset=folder:{tree}", "--split=none",
                  "--experiments=base", "--max_bad_fraction=0.2", "--noexport")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "skipping 3 of 35 files that are not decodable images" in out.stderr
    for reason in ("empty.JPEG: empty file", "text.JPEG: not an image",
                   "truncated.JPEG: truncated JPEG"):
        assert reason in out.stderr
    assert "dropped an image that failed to decode" in out.stderr
    result = json.loads((tmp_path / "work" / "runs" / "r0" / "baseAll" / "result.json").read_text())
    assert result["steps"] == 4 and result["num_classes"] == 4
