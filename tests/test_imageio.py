"""studio.imageio: loading every odd kind of image file, clear errors, lossless saving."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import studio.imageio as imageio
from studio.imageio import ImageLoadError, list_images, load_image, quantize, save_png, to_uint8


def _rgb_array(height: int = 12, width: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _load_error(source, *fragments: str, **kwargs) -> str:
    with pytest.raises(ImageLoadError) as info:
        load_image(source, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ---- formats and modes ----------------------------------------------------------------------

def test_rgb_png_is_exact_float32(tmp_path):
    data = _rgb_array()
    Image.fromarray(data).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.dtype == np.float32 and image.shape == (12, 16, 3)
    assert image.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(image, data.astype(np.float32) / 255.0)


def test_str_path_and_pathlike_give_the_same(tmp_path):
    data = _rgb_array()
    Image.fromarray(data).save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_image(str(tmp_path / "a.png")), load_image(tmp_path / "a.png"))


def test_jpeg_loads_close_to_source(tmp_path):
    # A smooth gradient survives JPEG at high quality within a few levels.
    y, x = np.mgrid[0:32, 0:48]
    data = np.stack([x * 5, y * 7, (x + y) * 3], axis=-1).astype(np.uint8)
    Image.fromarray(data).save(tmp_path / "a.jpg", quality=95)
    image = load_image(tmp_path / "a.jpg")
    assert image.shape == (32, 48, 3) and image.dtype == np.float32
    assert np.abs(image - data / 255.0).mean() < 3 / 255


def test_grayscale_is_replicated_to_rgb(tmp_path):
    gray = np.random.default_rng(1).integers(0, 256, size=(10, 14), dtype=np.uint8)
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    rgb = load_image(tmp_path / "g.png")
    assert rgb.shape == (10, 14, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], gray / np.float32(255.0))
    luma = load_image(tmp_path / "g.png", mode="L")
    assert luma.shape == (10, 14)
    np.testing.assert_array_equal(luma, gray / np.float32(255.0))


def test_mode_l_of_colour_image_uses_pillow_luma(tmp_path):
    data = _rgb_array()
    Image.fromarray(data).save(tmp_path / "a.png")
    luma = load_image(tmp_path / "a.png", mode="L")
    expected = np.asarray(Image.fromarray(data).convert("L"), dtype=np.float32) / 255.0
    assert luma.shape == (12, 16)
    np.testing.assert_array_equal(luma, expected)
    # pure red -> ITU-R 601-2 weight 0.299
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "red.png")
    assert load_image(tmp_path / "red.png", mode="L")[0, 0] == pytest.approx(76 / 255)


def test_invalid_mode_argument(tmp_path):
    Image.fromarray(_rgb_array()).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="mode"):
        load_image(tmp_path / "a.png", mode="RGBA")


def test_rgba_alpha_composited_on_white(tmp_path):
    data = np.zeros((4, 5, 4), dtype=np.uint8)
    data[0, 0] = (10, 20, 30, 0)       # fully transparent -> white
    data[1, 1] = (200, 100, 50, 255)   # opaque -> its own colour
    data[2, 2] = (0, 0, 0, 128)        # half-transparent black -> mid grey
    Image.fromarray(data, mode="RGBA").save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.shape == (4, 5, 3)
    np.testing.assert_array_equal(image[0, 0], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(image[1, 1], np.array([200, 100, 50]) / 255.0, atol=1e-7)
    assert np.all(np.abs(image[2, 2] - 127 / 255) <= 1 / 255)


def test_la_alpha_composited_on_white(tmp_path):
    data = np.zeros((3, 3, 2), dtype=np.uint8)
    data[..., 0] = 40
    data[0, 0, 1] = 0
    data[1:, :, 1] = 255
    Image.fromarray(data, mode="LA").save(tmp_path / "la.png")
    gray = load_image(tmp_path / "la.png", mode="L")
    assert gray.shape == (3, 3)
    assert gray[0, 0] == 1.0
    assert gray[2, 2] == pytest.approx(40 / 255)


def test_palette_with_transparency(tmp_path):
    palette = Image.new("P", (4, 3))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))  # 0: red, 1: blue
    pixels = palette.load()
    pixels[0, 0] = 1
    palette.info["transparency"] = 1  # index 1 (blue) is transparent
    palette.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    image = load_image(tmp_path / "p.png")
    assert image.shape == (3, 4, 3)
    np.testing.assert_array_equal(image[0, 0], [1.0, 1.0, 1.0])   # transparent blue -> white
    np.testing.assert_array_equal(image[2, 3], [1.0, 0.0, 0.0])   # opaque red stays red


def test_palette_without_transparency(tmp_path):
    data = _rgb_array(8, 8)
    Image.fromarray(data).quantize(colors=16).save(tmp_path / "p.png")
    reference = np.asarray(Image.open(tmp_path / "p.png").convert("RGB"), dtype=np.float32) / 255.0
    np.testing.assert_array_equal(load_image(tmp_path / "p.png"), reference)


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_is_converted_to_rgb(tmp_path, suffix):
    # (C, M, Y, K) = (0, 255, 255, 0): no cyan, full magenta + yellow -> red.
    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(tmp_path / f"c{suffix}")
    assert Image.open(tmp_path / f"c{suffix}").mode == "CMYK"
    image = load_image(tmp_path / f"c{suffix}")
    assert image.shape == (6, 8, 3)
    np.testing.assert_allclose(image[3, 4], [1.0, 0.0, 0.0], atol=2 / 255)


def test_16bit_png_keeps_precision(tmp_path):
    data = (np.arange(10 * 12, dtype=np.uint16).reshape(10, 12) * 500).astype(np.uint16)
    data[0, 0] = 1000
    data[0, 1] = 1001
    data[9, 11] = 65535
    Image.fromarray(data).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    gray = load_image(tmp_path / "g16.png", mode="L")
    assert gray.dtype == np.float32 and gray.shape == (10, 12)
    assert gray[0, 0] == pytest.approx(1000 / 65535, rel=1e-6)
    assert gray[0, 1] > gray[0, 0]  # one 16-bit step is not rounded away to 8 bits
    assert gray[9, 11] == 1.0
    np.testing.assert_allclose(gray, data / 65535.0, rtol=1e-6)
    rgb = load_image(tmp_path / "g16.png")
    assert rgb.shape == (10, 12, 3)
    np.testing.assert_array_equal(rgb[..., 2], gray)


def test_16bit_pgm_dark_image_is_not_read_as_8bit(tmp_path):
    # Pillow decodes a 16-bit PGM to mode "I"; a dark one (all values <= 255) must still be
    # scaled by 65535, not mistaken for 8-bit data.
    data = np.full((6, 7), 200, dtype=np.uint16)
    data[0, 0] = 100
    (tmp_path / "d.pgm").write_bytes(b"P5\n7 6\n65535\n" + data.astype(">u2").tobytes())
    assert Image.open(tmp_path / "d.pgm").mode == "I"
    gray = load_image(tmp_path / "d.pgm", mode="L")
    np.testing.assert_allclose(gray, data / 65535.0, rtol=1e-6)


def test_32bit_int_tiff_keeps_the_range_heuristic(tmp_path):
    # Formats whose mode "I" is not known to be 16-bit: values up to 255 read as 8-bit data,
    # larger ones as 16-bit.
    low = np.full((4, 4), 200, dtype=np.int32)
    Image.fromarray(low).save(tmp_path / "low.tif")
    assert Image.open(tmp_path / "low.tif").mode == "I"
    np.testing.assert_allclose(load_image(tmp_path / "low.tif", mode="L"), 200 / 255, rtol=1e-6)
    high = np.full((4, 4), 30000, dtype=np.int32)
    Image.fromarray(high).save(tmp_path / "high.tif")
    np.testing.assert_allclose(load_image(tmp_path / "high.tif", mode="L"), 30000 / 65535, rtol=1e-6)


def test_float_image_mode_f():
    data = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    gray = load_image(Image.fromarray(data, mode="F"), mode="L")
    np.testing.assert_allclose(gray, data, atol=1e-7)


def test_bilevel_image():
    image = Image.new("1", (3, 2), 0)
    image.putpixel((1, 0), 1)
    rgb = load_image(image)
    assert rgb.shape == (2, 3, 3)
    assert rgb[0, 1].tolist() == [1.0, 1.0, 1.0] and rgb[1, 1].tolist() == [0.0, 0.0, 0.0]


def test_exif_orientation_is_applied(tmp_path):
    # A 20 wide x 10 high picture, top half white; orientation 6 = rotate 90 degrees clockwise
    # to display, so it shows 10 wide x 20 high with the white half on the right.
    data = np.zeros((10, 20, 3), dtype=np.uint8)
    data[:5] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(data).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    image = load_image(tmp_path / "rot.jpg")
    assert image.shape == (20, 10, 3)
    assert image[:, 7:].mean() > 0.9 and image[:, :3].mean() < 0.1
    # Without the tag the stored orientation is kept.
    Image.fromarray(data).save(tmp_path / "plain.jpg", quality=95)
    assert load_image(tmp_path / "plain.jpg").shape == (10, 20, 3)


def test_bytes_and_pil_inputs(tmp_path):
    data = _rgb_array()
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="PNG")
    expected = data.astype(np.float32) / 255.0
    np.testing.assert_array_equal(load_image(buffer.getvalue()), expected)
    np.testing.assert_array_equal(load_image(bytearray(buffer.getvalue())), expected)
    np.testing.assert_array_equal(load_image(Image.fromarray(data)), expected)


# ---- errors ---------------------------------------------------------------------------------

def test_one_pixel_image_is_too_small(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "one.png")
    _load_error(tmp_path / "one.png", "1x1", "too small")
    Image.new("RGB", (1, 50)).save(tmp_path / "thin.png")
    _load_error(tmp_path / "thin.png", "too small")
    Image.new("RGB", (2, 2)).save(tmp_path / "two.png")
    assert load_image(tmp_path / "two.png").shape == (2, 2, 3)


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    _load_error(tmp_path / "empty.png", "empty", "0 bytes", "empty.png")


def test_empty_bytes():
    _load_error(b"", "empty", "0 bytes")


def test_truncated_png(tmp_path):
    Image.fromarray(_rgb_array(64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    _load_error(tmp_path / "cut.png", "cut.png", "truncated")
    # The same cut bytes uploaded directly.
    _load_error(data[: len(data) // 2], "uploaded image", "truncated")


def test_random_bytes_are_not_an_image(tmp_path):
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(0).bytes(500))
    _load_error(tmp_path / "noise.png", "noise.png", "not an image")
    (tmp_path / "notes.jpg").write_text("hello, I am a text file\n")
    _load_error(tmp_path / "notes.jpg", "not an image")


def test_folder_path(tmp_path):
    (tmp_path / "folder.png").mkdir()
    _load_error(tmp_path / "folder.png", "folder")


def test_missing_file(tmp_path):
    _load_error(tmp_path / "nope.png", "nope.png", "not found")


def test_image_above_max_pixels(tmp_path, monkeypatch):
    Image.fromarray(_rgb_array(40, 50)).save(tmp_path / "big.png")
    monkeypatch.setattr(imageio, "MAX_PIXELS", 1999)
    message = _load_error(tmp_path / "big.png", "big.png", "50x40", "limit", "downscale")
    assert "MP" in message
    monkeypatch.setattr(imageio, "MAX_PIXELS", 2000)
    assert load_image(tmp_path / "big.png").shape == (40, 50, 3)


def test_max_pixels_argument_lowers_the_limit_before_decoding(tmp_path):
    Image.new("L", (3000, 2000)).save(tmp_path / "six.png")  # 6 MP in a few kB
    _load_error(tmp_path / "six.png", "3000x2000 is 6.0 MP, above the 5 MP limit", max_pixels=5_000_000)
    assert load_image(tmp_path / "six.png", mode="L", max_pixels=6_000_000).shape == (2000, 3000)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_float_tiff_with_non_finite_pixels_is_refused(tmp_path, bad):
    data = np.random.default_rng(0).random((6, 7)).astype(np.float32)
    data[2, 3] = bad
    Image.fromarray(data, mode="F").save(tmp_path / "float.tif")
    _load_error(tmp_path / "float.tif", "float.tif", "1 of 42 pixels are NaN or infinite")
    _load_error(Image.fromarray(data, mode="F"), "uploaded image", "NaN or infinite", mode="L")
    data[2, 3] = 0.5  # the same file without the bad pixel loads
    Image.fromarray(data, mode="F").save(tmp_path / "float.tif")
    assert np.isfinite(load_image(tmp_path / "float.tif")).all()


def test_load_error_is_a_value_error():
    assert issubclass(ImageLoadError, ValueError)


# ---- saving and helpers ---------------------------------------------------------------------

def test_save_png_round_trip_uint8_is_lossless(tmp_path):
    data = _rgb_array(9, 11)
    path = save_png(data, tmp_path / "sub" / "out.png")
    assert path == tmp_path / "sub" / "out.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(np.asarray(Image.open(path)), data)
    np.testing.assert_array_equal(load_image(path), data / np.float32(255.0))
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["out.png"]  # no .tmp left behind


def test_save_png_float_round_trip(tmp_path):
    image = quantize(np.random.default_rng(3).random((7, 6, 3)))
    path = save_png(image, tmp_path / "f.png")
    np.testing.assert_array_equal(load_image(path), image)
    gray = quantize(np.random.default_rng(4).random((7, 6)))
    save_png(gray, tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode == "L"
    np.testing.assert_array_equal(load_image(tmp_path / "g.png", mode="L"), gray)


def test_save_png_writes_png_even_with_other_suffix(tmp_path):
    path = save_png(_rgb_array(), tmp_path / "out.jpg")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_to_uint8_rounds_and_clips():
    values = np.array([-0.5, 0.0, 0.4 / 255, 0.6 / 255, 1.4 / 255, 127.5 / 255 + 1e-9, 0.999, 1.0, 2.0])
    out = to_uint8(values)
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 0, 1, 1, 128, 255, 255, 255]
    assert quantize(np.array([0.6 / 255])).dtype == np.float32
    assert quantize(np.array([0.6 / 255]))[0] == np.float32(1 / 255)


def test_list_images_sorted_and_filtered(tmp_path):
    for name in ["b.png", "a.JPG", "c.tiff", "d.webp", "e.txt", "f.json", "g.bmp", "h"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()  # a folder with an image suffix is not an image
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "inner.png").write_bytes(b"x")  # not recursive
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["a.JPG", "b.png", "c.tiff", "d.webp", "g.bmp"]


def test_list_images_of_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "file.png")
