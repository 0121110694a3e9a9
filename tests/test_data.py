"""studio.data: how dataset folders are named in cards and logs."""

from __future__ import annotations

from studio.data import DATASETS, display_argv, display_path


def test_display_argv_names_dataset_folders_as_the_readme_does():
    argv = ["--data", str(DATASETS / "tiny_imagenet_subset"), "--steps", "3", "--out", "/tmp/elsewhere"]
    assert display_argv(argv) == ["--data", "../shared/datasets/tiny_imagenet_subset", "--steps", "3",
                                  "--out", "/tmp/elsewhere"]


def test_display_path_keeps_folders_outside_the_datasets():
    assert display_path(DATASETS / "set5") == "../shared/datasets/set5"
    assert display_path("/tmp/my_photos") == "/tmp/my_photos"
