"""Deblurring data: the GoPro-layout split by sequence (no leakage), the joint augmentation
(identical on both images, training only), synthetic blur of real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.data import ImageBank
from studio.deblur.datasets import (GoProPairs, JointTransform, SyntheticBlur, center_crop, find_sequences,
                                    gopro_validation_set, sample_pairs, split_by_sequence,
                                    synthetic_validation_set)
from studio.deblur import degradation as B
from studio.imageio import list_images, load_image, save_png

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
SEQUENCES = 10
FRAMES = 3


@pytest.fixture(scope="module")
def gopro_root(tmp_path_factory):
    """A small GoPro-layout folder: each sequence is a short 'video' panning over one real photo
    (consecutive frames nearly identical, as in GoPro), its blurred frames made with a kernel.
    The photos are the repository's samples, one scene each."""
    root = tmp_path_factory.mktemp("gopro")
    photos = (list_images(SAMPLES) + list_images(SAMPLES / "real_blur"))[:SEQUENCES]
    assert len(photos) == SEQUENCES
    kernels = B.load_levin_kernels()
    for s, photo in enumerate(photos):
        image = load_image(photo)
        for f in range(FRAMES):
            sharp = image[10 + 2 * f:10 + 2 * f + 48, 20 + 3 * f:20 + 3 * f + 64]
            blurred = B.blur(sharp, kernels[f"k{1 + (s + f) % 8}"])
            name = f"{f:06d}.png"
            save_png(sharp, root / f"GOPR{s:04d}_{photo.stem}" / "sharp" / name)
            save_png(blurred, root / f"GOPR{s:04d}_{photo.stem}" / "blur" / name)
    (root / "GOPR0000_" / "blur").mkdir(parents=True)  # an incomplete sequence is ignored
    return root


def _scene(frame_path):
    return frame_path.parent.parent.name.split("_", 1)[1]


def test_find_sequences_pairs_frames_by_name(gopro_root):
    sequences = find_sequences(gopro_root)
    assert len(sequences) == SEQUENCES
    for frames in sequences.values():
        assert len(frames) == FRAMES
        for blurred, sharp in frames:
            assert blurred.name == sharp.name and blurred.parent.name == "blur" and sharp.parent.name == "sharp"


def test_split_by_sequence_has_no_leakage(gopro_root):
    train, val = GoProPairs(gopro_root, "train", seed=42), GoProPairs(gopro_root, "val", seed=42)
    assert set(train.sequences).isdisjoint(val.sequences)
    assert sorted(train.sequences + val.sequences) == sorted(find_sequences(gopro_root))
    assert len(val.sequences) == 1 and len(train.sequences) == 9  # ~90/10
    # every frame of a held-out sequence is out of training, and so is its scene
    train_frames = {p for pair in train.pairs for p in pair}
    assert all(p not in train_frames for pair in val.pairs for p in pair)
    assert {_scene(b) for b, _ in train.pairs}.isdisjoint({_scene(b) for b, _ in val.pairs})
    assert len(val) == FRAMES * len(val.sequences)


def test_frame_level_shuffle_would_leak(gopro_root):
    # why the split is by sequence: a shuffle of frames puts the same scene on both sides
    frames = [pair for seq in find_sequences(gopro_root).values() for pair in seq]
    order = np.random.default_rng(42).permutation(len(frames))
    val = [frames[i] for i in order[:3]]
    train = [frames[i] for i in order[3:]]
    assert {_scene(b) for b, _ in val} & {_scene(b) for b, _ in train}


def test_split_is_seeded_and_about_ninety_ten():
    ids = [f"seq{i:02d}" for i in range(33)]
    a, b = split_by_sequence(ids, 0.1, seed=42), split_by_sequence(list(reversed(ids)), 0.1, seed=42)
    assert a == b  # order of discovery does not matter
    assert len(a[1]) == 3 and len(a[0]) == 30
    assert split_by_sequence(ids, 0.1, seed=123)[1] != a[1]  # the logbook's seed-123 re-split differs
    with pytest.raises(ValueError):
        split_by_sequence(["only-one"], 0.1)


def test_gopro_large_layout_with_train_and_test_folders(tmp_path):
    image = np.random.default_rng(0).random((20, 24, 3)).astype(np.float32)
    for split, count in (("train", 6), ("test", 4)):
        for i in range(count):
            for sub in ("blur", "sharp"):
                save_png(image, tmp_path / split / f"{split}_seq{i}" / sub / "000001.png")
    sequences = find_sequences(tmp_path)
    assert len(sequences) == 10 and "test/test_seq3" in sequences  # test sequences can move to train
    train, val = split_by_sequence(sequences, 0.1, seed=42)
    assert len(val) == 1 and len(train) == 9


def test_missing_or_empty_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        find_sequences(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="blur"):
        find_sequences(tmp_path)


# ---- joint augmentation ------------------------------------------------------------------------

def _pair(rng, shape=(40, 52, 3)):
    sharp = rng.random(shape).astype(np.float32)
    blurred = B.blur(sharp, B.load_levin_kernels()["k1"])
    return blurred, sharp


def test_training_augmentation_is_identical_on_both_images(rng):
    transform = JointTransform(train=True, crop=32, jitter=0.15)
    blurred, sharp = _pair(rng)
    seen = set()
    for seed in range(16):
        # the same image as "blurred" and "sharp": any desynchronisation would show
        a, b, params = transform(sharp, sharp.copy(), np.random.default_rng(seed))
        np.testing.assert_array_equal(a, b)
        assert a.shape == (32, 32, 3)
        seen.add((params["crop"], params["hflip"], params["vflip"], params["rot90"]))
        assert 0.85 <= params["brightness"] <= 1.15 and 0.85 <= params["contrast"] <= 1.15
        assert 0.85 <= params["saturation"] <= 1.15
        # and on a real pair, the blurred output is the same transform of the blurred input
        out_b, out_s, p2 = transform(blurred, sharp, np.random.default_rng(seed))
        assert p2 == params
        replay = JointTransform(train=True, crop=32, jitter=0.15)
        ref_b, _, _ = replay(blurred, blurred.copy(), np.random.default_rng(seed))
        ref_s, _, _ = replay(sharp, sharp.copy(), np.random.default_rng(seed))
        np.testing.assert_array_equal(out_s, ref_s)
        # the jitter pivot comes from the sharp image in both cases: same geometry, nearly same colours
        assert np.abs(out_b - ref_b).max() < 0.05
    assert len(seen) > 8  # crops, flips and rotations really vary


def test_rotation_turns_the_blur_direction(rng):
    # a horizontal motion blur becomes vertical after rot90 (the logbook's reason for rot90)
    sharp = rng.random((33, 33, 3)).astype(np.float32)
    kernel = np.zeros((9, 9))
    kernel[4, :] = 1 / 9
    blurred = B.blur(sharp, kernel)
    transform = JointTransform(train=True, crop=None, flips=False, rot90=True, jitter=0)
    for seed in range(8):
        b, s, params = transform(blurred, sharp, np.random.default_rng(seed))
        if params["rot90"] % 2 == 1:
            np.testing.assert_allclose(b, B.blur(s, kernel.T), atol=1e-5)
            break
    else:
        pytest.fail("no odd rotation drawn")


def test_validation_applies_no_augmentation(rng):
    blurred, sharp = _pair(rng)
    plain = JointTransform(train=False, crop=None, flips=True, rot90=True, jitter=0.15)
    cropped = JointTransform(train=False, crop=32, flips=True, rot90=True, jitter=0.15)
    for seed in range(10):  # whatever generator is around: nothing random happens
        b, s, params = plain(blurred, sharp, np.random.default_rng(seed))
        np.testing.assert_array_equal(b, blurred)
        np.testing.assert_array_equal(s, sharp)
        assert params == {}
        b, s, params = cropped(blurred, sharp, np.random.default_rng(seed))
        np.testing.assert_array_equal(b, blurred[4:36, 10:42])
        np.testing.assert_array_equal(s, sharp[4:36, 10:42])
        assert params == {"center_crop": 32}
    b, s, _ = cropped(blurred, sharp)  # no generator needed
    np.testing.assert_array_equal(s, center_crop(sharp, 32))


def test_training_needs_a_generator_and_matching_sizes(rng):
    blurred, sharp = _pair(rng)
    with pytest.raises(ValueError):
        JointTransform(train=True)(blurred, sharp)
    with pytest.raises(ValueError):
        JointTransform(train=True)(blurred[:-1], sharp, np.random.default_rng(0))


def test_small_images_are_mirrored_up_to_the_crop(rng):
    blurred, sharp = _pair(rng, (20, 13, 3))
    b, s, _ = JointTransform(train=True, crop=32)(blurred, sharp, np.random.default_rng(0))
    assert b.shape == s.shape == (32, 32, 3)


def test_gopro_sampling_and_validation(gopro_root):
    train, val = GoProPairs(gopro_root, "train"), GoProPairs(gopro_root, "val")
    transform = JointTransform(train=True, crop=32)
    blurred, sharp = sample_pairs(train, transform, np.random.default_rng(0), 4)
    assert blurred.shape == sharp.shape == (4, 3, 32, 32)
    items = gopro_validation_set(val, count=8, crop=32)
    assert len(items) == len(val)  # 3 frames, all used
    for item, (blurred_path, sharp_path) in zip(items, val.pairs):
        np.testing.assert_array_equal(item["sharp"], center_crop(load_image(sharp_path), 32))
        np.testing.assert_array_equal(item["blurred"], center_crop(load_image(blurred_path), 32))


# ---- synthetic blur --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bank(photos):
    return ImageBank(photos, progress=False)


def test_synthetic_blur_pairs(bank):
    source = SyntheticBlur(bank, crop=48, max_kernel=21, max_noise=0.01)
    transform = JointTransform(train=True, crop=48, jitter=0.15)
    for seed in range(4):
        blurred, sharp, params = source.sample(np.random.default_rng(seed), transform)
        assert blurred.shape == sharp.shape == (48, 48, 3)
        assert params["kernel"]["kind"] == "trajectory" and params["kernel"]["size"] <= 21
        assert 0 <= params["noise_sigma"] <= 0.01
        assert np.allclose(blurred * 255, np.round(blurred * 255), atol=1e-4)  # 8-bit like a photo
        assert not np.array_equal(blurred, sharp)
    # deterministic given the generator
    a = source.sample(np.random.default_rng(9), transform)
    b = source.sample(np.random.default_rng(9), transform)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_synthetic_blur_is_the_kernel_applied_to_the_sharp_crop(bank):
    # no augmentation, no noise: the blurred crop is exactly the sharp crop's neighbourhood convolved
    source = SyntheticBlur(bank, crop=40, max_kernel=15, max_noise=0.0)
    transform = JointTransform(train=True, crop=40, flips=False, rot90=False, jitter=0)
    rng = np.random.default_rng(5)
    blurred, sharp, params = source.sample(rng, transform)
    kernel, _ = B.train_kernel(np.random.default_rng(5), 15)
    inner = params["kernel"]["size"] // 2
    reblurred = B.blur(sharp, kernel)[inner:-inner, inner:-inner]
    np.testing.assert_allclose(blurred[inner:-inner, inner:-inner], reblurred, atol=1 / 255)


def test_synthetic_validation_set_is_fixed(photos):
    a = synthetic_validation_set(photos, count=3, crop=40)
    b = synthetic_validation_set(photos, count=3, crop=40)
    assert [i["kernel"] for i in a] == ["val-traj-0", "val-traj-1", "val-traj-2"]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["blurred"], y["blurred"])
        assert x["sharp"].shape == x["blurred"].shape == (40, 40, 3)


def test_pool_split_is_a_seeded_partition_of_the_pooled_images(tmp_path):
    from studio.deblur.datasets import pool_split

    for folder, count in (("a", 12), ("b", 8)):
        for i in range(count):
            save_png(np.full((8, 8, 3), i / 20, np.float32), tmp_path / folder / f"{folder}{i}.png")
    folders = [tmp_path / "a", tmp_path / "b"]
    train, val = pool_split(folders, seed=42, val_fraction=0.1)
    assert len(val) == 2 and len(train) == 18 and not {p.stem for p in train} & {p.stem for p in val}
    assert pool_split(folders, seed=42, val_fraction=0.1) == (train, val)  # the same seed, the same split
    other = pool_split(folders, seed=123, val_fraction=0.1)[1]
    assert {p.stem for p in other} != {p.stem for p in val}  # the logbook's two seeds hold out other images
