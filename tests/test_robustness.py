"""Generated bad inputs (hypothesis) through every place a value enters: image loading, each task's
parameter parsing and a comparison, the command lines, and the dashboard's readers and pages.

The property is the same everywhere: a usable value gives a usable result (finite pixels in
[0, 1], parameters within their ranges), anything else gives the module's own error with a message,
never another exception, a NaN result or a traceback. Examples are derandomised (the same ones on
every run) and few, so the module stays within seconds per test."""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from PIL import Image

from studio import cli, results as dashboard_data, evaluate
from studio.app import core as app_core
from studio.imageio import ImageLoadError, load_image
from studio.tasks import TASKS, ParamError, parse_seed
from tests.protocol_fixtures import make_results, write

# hypothesis keeps small caches; they belong in the temp folder, not in the working tree
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "restoration-studio-hypothesis")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
QUICK = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SLOW = settings(QUICK, max_examples=8)

#: what a form, a JSON client or a config file may carry where a number belongs
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "x4", " 3 ", "0x10", "", "1_000"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _valid_image(image) -> bool:
    return (isinstance(image, np.ndarray) and image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3
            and bool(np.isfinite(image).all()) and float(image.min()) >= 0 and float(image.max()) <= 1)


# ---- image loading -------------------------------------------------------------------------------

PNG = (SAMPLES / "set5_bird.png").read_bytes()


@QUICK
@given(st.one_of(st.binary(max_size=400),
                 st.builds(lambda cut, junk: PNG[:cut] + junk, st.integers(0, 4000), st.binary(max_size=64)),
                 st.builds(lambda at, junk: PNG[:at] + junk + PNG[at + len(junk):],
                           st.integers(8, len(PNG) - 64), st.binary(min_size=1, max_size=16))))
def test_any_bytes_load_as_a_valid_image_or_a_clear_error(data):
    try:
        image = load_image(data)
    except ImageLoadError as err:
        assert str(err).startswith("uploaded image")
    else:
        assert _valid_image(image)


@QUICK
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=12, max_size=12),
       st.sampled_from(["tiff", "bytes"]))
def test_float_images_with_any_values(values, how):
    array = np.asarray(values, dtype=np.float32).reshape(3, 4)
    source = Image.fromarray(array, mode="F")
    if how == "tiff":
        buffer = io.BytesIO()
        source.save(buffer, format="TIFF")
        source = buffer.getvalue()
    if not np.isfinite(array).all():
        with pytest.raises(ImageLoadError, match="NaN or infinite"):
            load_image(source)
    else:
        assert _valid_image(load_image(source))


# ---- each task's parameters ----------------------------------------------------------------------

def _within(param, value) -> bool:
    if param.kind in ("int", "float"):
        ok = isinstance(value, int if param.kind == "int" else float) and math.isfinite(value)
        return ok and param.low <= value <= param.high and (not param.odd or value % 2 == 1)
    if param.kind == "choice":
        return value in param.choices
    return isinstance(value, list) and all(v in param.choices for v in value)


@QUICK
@given(st.sampled_from(sorted(TASKS)), st.data())
def test_task_parameters_are_typed_and_in_range_or_refused(task, data):
    spec = TASKS[task]
    names = st.sampled_from([p.name for p in spec.params] + ["bogus"])
    values = data.draw(st.dictionaries(names, odd_values | st.sampled_from([p.default for p in spec.params]),
                                       max_size=4))
    try:
        parsed = spec.parse_params(values)
    except ParamError as err:
        assert str(err)
    else:
        assert set(parsed) <= {p.name for p in spec.params}
        for name, value in parsed.items():
            assert _within(spec.param(name), value), (name, value)


@QUICK
@given(odd_values)
def test_seeds(value):
    try:
        seed = parse_seed(value)
    except ParamError:
        return
    assert isinstance(seed, int) and 0 <= seed < 2**32


@pytest.fixture(scope="module")
def small_photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("robust") / "photo.png"
    Image.open(SAMPLES / "set5_butterfly.png").convert("RGB").crop((100, 100, 148, 140)).save(path)
    return path


@SLOW
@given(blur_length=odd_values, noise_sigma=odd_values, max_kernel=odd_values, seed=odd_values)
def test_a_deblur_comparison_with_generated_settings(small_photo, tmp_path_factory, monkeypatch, blur_length,
                                                     noise_sigma, max_kernel, seed):
    monkeypatch.setattr(app_core, "RUN_ROOT", tmp_path_factory.mktemp("runs"))
    params = {"blur_kernel": "linear", "blur_length": blur_length, "noise_sigma": noise_sigma, "max_kernel": max_kernel}
    try:
        comparison = app_core.compare("deblur", small_photo, app_core.MODE_CLEAN, ["unsharp-mask"], params, seed)
    except app_core.StudioError as err:
        assert str(err).startswith("Cannot use that setting:")
    else:
        for result in comparison.results:
            assert _valid_image(result.image)
            assert result.scores is None or all(math.isfinite(v) for v in result.scores.values())


# ---- command lines -------------------------------------------------------------------------------

numbers_as_text = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats().map(repr),
                            st.sampled_from(["nan", "inf", "-inf", "", "1e3", "4.0", "x4", "0"]))


@QUICK
@given(option=st.sampled_from(["--scale", "--tile", "--overlap", "--seed", "--limit"]), value=numbers_as_text)
def test_evaluate_options_give_a_run_or_one_line(photos_folder, tmp_path_factory, monkeypatch, option, value):
    seen = {}

    def fake_evaluate(task, names, clean, degraded, scale, seed, save, tile, overlap, limit, precision, params):
        seen.update(scale=scale, seed=seed, tile=tile, overlap=overlap, limit=limit, params=params)
        return [{"task": task, "model": names[0], "image": "x", "psnr": 30.0, "ssim": 0.9, "psnr_y": 31.0,
                 "ssim_y": 0.9, "input_psnr": 29.0, "input_psnr_y": 30.0, "seconds": 0.1}]

    monkeypatch.setattr(evaluate, "evaluate", fake_evaluate)
    out = tmp_path_factory.mktemp("eval") / "x.csv"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            evaluate.main(["--task", "sr", "--models", "bicubic", "--clean", str(photos_folder), "--out", str(out),
                           option, value])
            code = 0
        except SystemExit as stop:
            code = stop.code
    if code == 0:
        assert out.is_file()
        assert 2 <= seen["scale"] <= 4 and seen["seed"] >= 0 and seen["overlap"] >= 0
        assert seen["tile"] is None or seen["tile"] == 0 or seen["tile"] > 2 * seen["overlap"]
        assert seen["limit"] is None or seen["limit"] >= 1
        assert seen["params"] == {"degradation": "bicubic"}
    else:
        said = stderr.getvalue() or str(code)
        assert "error" in said and len(said.strip().splitlines()) == 1 and "Traceback" not in said, said


@pytest.fixture(scope="module")
def photos_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    Image.open(SAMPLES / "set5_bird.png").convert("RGB").crop((0, 0, 64, 64)).save(folder / "bird.png")
    return folder


@QUICK
@given(option=st.sampled_from(["--lr", "--w-adv", "--grad-clip", "--steps", "--batch-size", "--seed", "--patch"]),
       value=numbers_as_text)
def test_training_options_are_finite_and_in_range_or_one_line(option, value):
    from training import train_sr

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            args = train_sr.parse_args(["--preset", "srresnet", option, value])
        except SystemExit as stop:
            assert stop.code == 2
            said = stderr.getvalue()
            assert said.count("\n") == 1 and "error: argument" in said or "error: --patch" in said, said
            return
    parsed = getattr(args, option[2:].replace("-", "_"))
    assert math.isfinite(parsed) and parsed >= 0


@QUICK
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_check_writable_answers_for_any_name(name):
    assume("\x00" not in name)
    try:
        cli.check_writable(Path("/tmp/robustness-never-created") / name, "--out")
    except cli.CommandError as err:
        assert str(err).startswith("--out ")


# ---- the dashboard's readers and pages -----------------------------------------------------------

cells = st.one_of(st.just(""), st.integers(-5, 10**6).map(str), st.floats(allow_nan=True).map(repr),
                  st.sampled_from(["nan", "True", "three", "x4", "mean", '"quoted, comma"', "1e-3", "-"]))


@st.composite
def csv_texts(draw):
    header = draw(st.lists(st.sampled_from(["step", "loss", "lr", "value", "trial", "batch", "expected_loss",
                                            "n_examples", "steps_taken", "final_loss", "params_lr", "x", ""]),
                           min_size=1, max_size=6))
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=len(header) + 1), max_size=5))
    text = "\n".join([",".join(header)] + [",".join(row) for row in rows])
    return text + draw(st.sampled_from(["", "\n", "\r\n", "\n\n"]))


@QUICK
@given(text=csv_texts(), name=st.sampled_from(["metrics.csv", "grid-search.csv", "check-init.csv",
                                                  "overfit-small.csv", "lr-find.csv", "other.csv"]))
def test_read_table_never_raises(tmp_path_factory, text, name):
    path = write(tmp_path_factory.mktemp("csv") / name, text)
    table = dashboard_data.read_table(path, name=name)
    assert (table.error is None) == (table.frame is not None)
    assert table.error is None or table.error.startswith(name)
    assert all(w.startswith(name) for w in table.warnings)


@QUICK
@given(scale=odd_values, val=odd_values, preset=odd_values, extra=st.sampled_from(["dict", "list", "none"]))
def test_input_psnr_baseline_with_any_config(tmp_path_factory, scale, val, preset, extra):
    root = tmp_path_factory.mktemp("cfg")
    config = {"extra": {"scale": scale, "val": val, "preset": preset}} if extra == "dict" else (
        {"extra": [scale]} if extra == "list" else [scale])
    notes: list[str] = []
    found = dashboard_data.input_psnr_baseline(root, "run", None, config, root / "cards", notes=notes)
    assert found is None or (math.isfinite(found[0]) and isinstance(found[1], str))
    assert all("config.json" in note for note in notes)


@QUICK
@given(odd_values, st.sampled_from(["d", ".4g", ".3f", "g"]))
def test_cell_formatting(value, spec):
    number = dashboard_data.as_number(value)
    assert number is None or math.isfinite(number)
    text = dashboard_data.fmt(value, spec)
    assert isinstance(text, str) and (number is not None or text == "?")


@SLOW
@given(counts=st.lists(cells, min_size=5, max_size=5), grid=st.lists(cells, min_size=3, max_size=3))
def test_dashboard_pages_with_generated_cells(tmp_path_factory, monkeypatch, counts, grid):
    """Generated cells in check-init, overfit-small and a grid column: the pages draw, never 'could not draw'."""
    from streamlit.testing.v1 import AppTest

    root = make_results(tmp_path_factory.mktemp("dash") / "results")
    monkeypatch.setenv(dashboard_data.RESULTS_ENV, str(root))
    exp = root / "protocol" / "tiny-cnn"
    quote = lambda cell: '"' + cell.strip('"') + '"' if "," in cell else cell  # noqa: E731
    loss, expected, tolerance, params, zero = map(quote, counts)
    write(exp / "check-init.csv",
          "experiment,model,task,batch,batch_size,loss,expected_loss,difference,expected_source,tolerance,"
          "relative_tolerance,passed,param_tensors,zero_grad_tensors,gradients_ok,zero_grad_names,dataset\n"
          f"tiny-cnn,m,classification,mean,32,{loss},{expected},0,src,{tolerance},0.05,True,{params},{zero},True,,d\n")
    write(exp / "overfit-small.csv",
          "experiment,model,task,n_examples,batch_size,lr,weight_decay,augment,max_steps,steps_taken,initial_loss,"
          f"final_loss,min_loss,target_loss,reached,seconds,run,dataset\n"
          f"tiny-cnn,m,classification,{zero},32,0.001,0,False,300,{params},{loss},{expected},0,{tolerance},True,20,"
          "cls-run,d\n")
    lines = (exp / "grid-search.csv").read_text().splitlines()
    for index, cell in enumerate(grid, start=1):  # params_blocks_per_stage of three trials
        fields = lines[index].split(",")
        fields[7] = quote(cell)
        lines[index] = ",".join(fields)
    write(exp / "grid-search.csv", "\n".join(lines) + "\n")
    app = AppTest.from_file(str(ROOT / "studio" / "dashboard" / "app.py"), default_timeout=60).run()
    for page in ("Sanity checks", "Grid search"):
        app.sidebar.radio(key="page").set_value(page)
        app.run()
        assert not app.exception, [str(e.value) for e in app.exception]
        errors = [str(e.value) for e in app.error]
        assert not [e for e in errors if "could not draw" in e], errors
