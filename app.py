"""Restoration Studio: see how image-restoration models differ.

    python app.py            # http://127.0.0.1:7860  (also the Hugging Face Space's entry point)

Tabs: Restoration, Super-resolution, Deblurring (one per task of ``studio.tasks``, filled from the
model registry), Benchmark (the shipped evaluation CSVs) and Models (one card per model). Each task
tab takes a shipped sample or an upload, in two modes: a clean photo is degraded with the task's
protocol and every model's output is scored against it; an already degraded photo is restored
without scores (no-reference mode). The logic lives in ``studio/app/``; this file lays out the
page and wires the events (every main event has an ``api_name``, for gradio_client).
"""

from __future__ import annotations

import inspect
import json
import os
import traceback
import weakref
from functools import wraps

from studio.app import limits as app_limits

# Gradio reads its cache folder when it is imported: the studio's own, unless one is set, so that
# pruning it by size and age (``sweep_disk``) can never delete another app's files.
os.environ.setdefault("GRADIO_TEMP_DIR", str(app_limits.default_gradio_cache()))

import gradio as gr  # noqa: E402
from gradio.components.plot import PlotData  # noqa: E402

from studio.app import benchmark as app_benchmark, core as app_core, model_cards as app_models  # noqa: E402
from studio.app.core import MODE_CLEAN, MODE_NO_REFERENCE, MODES, StudioError  # noqa: E402
from studio.app.glossary import glossary_markdown  # noqa: E402
from studio.app.presets import preset_models, preset_settings, presets_for  # noqa: E402
from studio.app.samples import samples_for  # noqa: E402
from studio.tasks import TASKS  # noqa: E402

TAB_ORDER = ("restoration", "sr", "deblur")
TAB_TITLES = {"restoration": "Restoration", "sr": "Super-resolution", "deblur": "Deblurring"}
TASK_BLURBS = {
    "sr": "A clean photo is downscaled (MATLAB bicubic, the benchmark protocol); every model upscales it back "
          "and is scored against the original. A photo that is already low-resolution is upscaled without scores.",
    "deblur": "A clean photo is blurred with a motion kernel you choose (plus a little noise); every model "
              "deblurs it and is scored against the original. A real blurred photo (GoPro, Lai et al.) is "
              "deblurred without scores: there is no sharp original to compare with.",
    "restoration": "A clean colour photo is degraded (gray, noise, blur, JPEG, 128×128 as in the "
                   "source project); every model restores it, colours included, and is scored against the original.",
}
#: uploads above this are refused by the server before any decoding (a 12 MP JPEG or PNG photo fits)
MAX_FILE_SIZE = "25mb"
HEAVY = "models"  # concurrency group of the model-running jobs (app_limits.MODEL_SLOTS at a time)
UPLOAD_LABEL = ("Your photo (PNG, JPEG, TIFF, WebP, BMP; up to " + MAX_FILE_SIZE.removesuffix("mb") + " MB and "
                "{mp:g} megapixels)")
QUEUE_NOTE = ("*{slots} comparison{s} run{verb} at a time on this server; while others are ahead of you, "
              "the results panel shows your place in the queue (and, once the server has timed a comparison, "
              "an estimated wait).*")
CSS = """
.caption-label { font-size: 0.8em !important; }
#studio-title h1 { margin-bottom: 0; }
/* a phone: every tab one tap away (the tabs that do not fit on the first line wrap below it
   instead of hiding behind a "more" menu) */
@media (max-width: 640px) {
  .tab-wrapper { flex-wrap: wrap !important; height: auto !important; }
  .tab-wrapper .overflow-menu > button { display: none !important; }
  .tab-wrapper .overflow-menu { position: static !important; }
  .tab-wrapper .overflow-dropdown, .tab-wrapper .overflow-dropdown.hide {
    display: flex !important; flex-direction: row !important; flex-wrap: wrap; position: static !important;
    box-shadow: none !important; border: none !important; padding: 0 !important; background: none !important;
    min-width: 0 !important; height: auto !important; transform: none !important; }
  .tab-wrapper .overflow-dropdown button { width: auto !important; }
}
"""


def served_folders() -> list[str]:
    """The folders whose files the app hands out: its run folders and the Benchmark tab's scratch
    folder, nothing around them (Gradio also serves its own cache and the working directory)."""
    return [str(app_core.RUN_ROOT), str(app_benchmark.scratch_root())]


def launch_kwargs() -> dict:
    """What ``launch`` needs besides the server address (shared by ``__main__``, tests and the benchmark)."""
    return dict(max_file_size=MAX_FILE_SIZE, theme=gr.themes.Soft(), css=CSS, show_error=True,
                allowed_paths=served_folders())


#: the pages built in this process, whose Gradio cache ``sweep_disk`` keeps within its limits
_demos: "weakref.WeakSet[gr.Blocks]" = weakref.WeakSet()


def sweep_disk() -> None:
    """Prune every folder the app writes (``studio.app.limits``): run folders, benchmark scratch
    and the files Gradio cached for this app. Called after each model-running job, before Gradio
    copies that job's own outputs, so they are never the ones deleted."""
    app_core.sweep_runs()
    app_limits.prune(app_benchmark.scratch_root())
    for demo in list(_demos):
        app_limits.prune_gradio_cache(demo, os.environ["GRADIO_TEMP_DIR"])


def sweeps(fn):
    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            try:
                sweep_disk()
            except Exception:  # noqa: BLE001 -- cleaning up must never cost the user their result
                traceback.print_exc()

    return wrapper


def user_errors(fn):
    """A user-fixable problem becomes a clear message; anything else a short one (the server keeps serving)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except StudioError as err:
            raise gr.Error(str(err), print_exception=False) from None
        except (ValueError, KeyError) as err:
            raise gr.Error(f"Cannot do that: {err}", print_exception=False) from None
        except Exception as err:  # noqa: BLE001 -- a bug must not leave the page hanging
            traceback.print_exc()
            raise gr.Error(f"Something went wrong ({type(err).__name__}: {err}). Try another image or setting.") from None

    return wrapper


def plotly_json(figure: dict) -> PlotData:
    """A plotly figure given as a plain JSON dict (see ``studio.app.views``) for ``gr.Plot``."""
    return PlotData(type="plotly", plot=json.dumps(figure))


# ---- task tabs ------------------------------------------------------------------------------------

def param_control(param):
    """The page's control for a task parameter (``studio.tasks.Param``), over the parameter's own
    range or choices, so the page offers exactly what ``TaskSpec.parse_params`` accepts."""
    label = param.ui_label or param.label
    value = param.default if param.ui_default is None else param.ui_default
    if param.kind == "choice":
        choices = list(zip(param.choice_labels, param.choices)) if param.choice_labels else list(param.choices)
        return gr.Dropdown(choices, value=value, label=label)
    if param.kind == "choices":
        return gr.CheckboxGroup(list(param.choices), value=list(value), label=label)
    if param.widget == "radio":
        return gr.Radio(list(range(int(param.low), int(param.high) + 1)), value=value, label=label)
    return gr.Slider(param.low, param.high, value=value, step=param.step, label=label)


def task_controls(task: str):
    """(components, function values -> raw params) of a task's degradation controls, one per
    declared parameter; the values are checked and typed by ``app_core.compare``
    (``TaskSpec.parse_params``), where API calls land too. An empty value keeps the default."""
    params = TASKS[task].params
    components = [param_control(param) for param in params]
    return components, lambda *values: {p.name: (None if v == "" else v) for p, v in zip(params, values)}


def compare_signature(spec, progress) -> inspect.Signature:
    """The signature a Compare endpoint shows its API clients: the photo, mode, models and seed, one
    parameter per control of the task, then the two optional ones (a reference photo, what to do
    with a large photo) with their defaults, so a client that leaves them out still works."""
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    names = ["path", "mode", "models", "seed", *(p.name for p in spec.params)]
    parameters = [inspect.Parameter(name, positional) for name in names]
    parameters += [inspect.Parameter("reference", positional, default=None),
                   inspect.Parameter("large_photo", positional, default=app_core.LARGE_DOWNSCALE),
                   inspect.Parameter("progress", positional, default=progress)]
    return inspect.Signature(parameters)


def model_checkboxes(task: str):
    statuses = app_core.model_statuses(task)
    choices = []
    for s in statuses:
        if not s.available:
            continue
        label = f"{s.name} ({s.kind})"
        if s.needs_kernel:
            label = f"{s.name} ({s.kind}, needs the true kernel: clean-photo mode only)"
        choices.append((label, s.name))
    missing = [s for s in statuses if not s.available]
    return choices, missing


def build_task_tab(task: str):
    spec = TASKS[task]
    choices, missing = model_checkboxes(task)
    learned = [s for s in app_core.model_statuses(task) if s.available and s.learned]
    gr.Markdown(f"**{spec.title}.** {TASK_BLURBS.get(task, '')}")
    with gr.Accordion("Words used here (PSNR, SSIM, kernel, HQS, GAN, …)", open=False):
        gr.Markdown(glossary_markdown())
    if missing:
        names = ", ".join(f"`{s.name}`" for s in missing)
        if not learned:
            gr.Markdown(f"> **No trained {TAB_TITLES[task].lower()} models yet** in this checkout ({names}; the "
                        f"Models tab says how to train them)."
                        + (" The classical baseline runs meanwhile." if choices else ""))
        else:
            gr.Markdown(f"*Not trained in this checkout, so not offered: {names} (see the Models tab).*")
    if not choices:
        return
    samples = samples_for(task)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            picker = gr.Gallery([(str(s.path), s.title + (" · real, no ground truth" if s.degraded else "")) for s in samples],
                                label="Sample photos: click one (or upload your own below)", columns=4, height=230,
                                allow_preview=False, object_fit="cover", format="png")
            # what Compare runs on: the sample last clicked or the file last uploaded (the upload box
            # itself stays free for a user's own photo)
            photo = gr.File(visible=False, type="filepath")
            upload = gr.File(label=UPLOAD_LABEL.format(mp=app_limits.MAX_UPLOAD_MP), file_types=["image"],
                             type="filepath", height=140)
            preview = gr.Image(label="Selected photo", type="numpy", format="png", interactive=False, height=200)
            info = gr.Markdown()
            mode = gr.Radio(list(MODES), value=MODE_CLEAN, label="Mode")
            presets = presets_for(task)
            if presets:
                preset = gr.Radio([title for title, *_ in presets], value=None, label="Teaching presets",
                                  info="Each ticks the models that tell one story; tick others below as you like.")
                preset_story = gr.Markdown()
            models = gr.CheckboxGroup(choices, value=[value for _, value in choices], label="Models to compare")
            with gr.Accordion("Degradation (clean-photo mode)", open=True):
                controls, to_params = task_controls(task)
                # no `precision`: Gradio would round a NaN into a crash; app_core.compare checks the seed
                seed = gr.Number(0, minimum=0, step=1, label="Seed (noise and random kernels)")
            with gr.Accordion("Your own degraded photo (no-reference mode)", open=False):
                reference = gr.File(label="Its sharp or clean version (optional): every output is scored against it; "
                                          "the same photo at the output's size", file_types=["image"], type="filepath",
                                    height=110)
                large = gr.Radio(list(app_core.LARGE_CHOICES), value=app_core.LARGE_DOWNSCALE,
                                 label=f"A photo whose output passes {app_core.MAX_WORK_PIXELS / 1e6:.1f} MP")
            run = gr.Button("Compare", variant="primary", size="lg")
            if spec.upscale_chain:
                with gr.Accordion("Then upscale x4 (restore → upscale)", open=False):
                    gr.Markdown("Each restored 128 px output upscaled x4 to 512 px, by the chosen SR model and by "
                                "bicubic (the reference), scored against the original photo at 512 px.")
                    # any name is accepted (an API client knows the SR model names); upscale_run checks it
                    upscaler = gr.Dropdown(app_core.upscalers(), value=next(iter(app_core.upscalers()), None),
                                           label="Super-resolution model", allow_custom_value=True)
                    upscale = gr.Button("Upscale the restored outputs x4")
            slots = app_limits.MODEL_SLOTS
            gr.Markdown(QUEUE_NOTE.format(slots=slots, s="" if slots == 1 else "s", verb="s" if slots == 1 else ""))
        with gr.Column(scale=2):
            summary = gr.Markdown("Pick a photo, then press **Compare**.")
            grid = gr.Gallery(label="Input, ground truth and every model (lossless PNG; click to enlarge)", columns=4,
                              height=560, format="png", object_fit="contain", buttons=["download", "fullscreen"])
            gr.Markdown("**Compare two**: pick any two images; drag the handle, zoom with the mouse wheel or a "
                        "pinch (both sides together). The slider's title names its left and right halves.")
            with gr.Row():
                # Any name is accepted (an API client knows the names from its comparison, without the
                # choices this page fills in); on_pair checks it against the run.
                left = gr.Dropdown([], label="Left", allow_custom_value=True)
                right = gr.Dropdown([], label="Right", allow_custom_value=True)
            slider = gr.ImageSlider(label="Left | Right", type="filepath", format="png", interactive=False, max_height=640)
            table = gr.Dataframe(headers=app_core.score_headers(task), label="Scores", interactive=False, wrap=True)
            kernels = gr.Gallery(label="Blur kernels: the true one (clean-photo mode) and each blind model's estimate",
                                 columns=4, height=240, format="png", object_fit="contain", visible=False)
            download = gr.File(label="Download everything (PNG images, error maps, scores.csv, settings.json)")
    gr.Markdown("### Error maps\n|output − ground truth|, averaged over RGB, all on **one colour scale** "
                "(the bar) so the maps compare directly; the scale is fitted to the models' errors, so the "
                "input's map, usually worse, saturates. No ground truth, no error map.")
    colorbar = gr.Image(show_label=False, type="filepath", format="png", interactive=False, height=70,
                        buttons=[], container=False)
    errors = gr.Gallery(label="Error maps (same scale)", columns=4, height="auto", format="png", object_fit="contain")
    gr.Markdown("### Zoom on a region\nClick the picture on the left to choose where; the crops are enlarged "
                "with nearest-neighbour so every pixel stays visible.")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            where = gr.Image(label="Click to choose the region", type="filepath", format="png", interactive=False,
                             height=300)
            crop_size = gr.Slider(16, 256, value=64, step=8, label="Region size (px)")
            crop_x = gr.Number(0, label="x (centre, px)", step=1)  # checked by app_core.crop_view
            crop_y = gr.Number(0, label="y (centre, px)", step=1)
        with gr.Column(scale=3):
            crops = gr.Gallery(label="Zoomed crops", columns=4, height="auto", format="png", object_fit="contain")
    with gr.Row():
        with gr.Column():
            pd_plot = gr.Plot(label="Perception–distortion")
            gr.Markdown("*Each point is a model: up means closer to the ground truth (PSNR), right means more edge "
                        "and texture energy (measured without any reference) — GANs move right at a cost in PSNR, "
                        "the dashed line is the true photo's sharpness.*")
        with gr.Column():
            spectrum = gr.Plot(label="Radial error spectrum")
            gr.Markdown("*How much error each output has at each spatial frequency, from coarse (left) to the "
                        "finest detail (right): a curve that rises on the right is a model that loses or invents "
                        "fine detail.*")
    run_id = gr.Textbox(visible=False)

    def pick_sample(evt: gr.SelectData):
        sample = samples[evt.index]
        return str(sample.path), (MODE_NO_REFERENCE if sample.degraded else MODE_CLEAN)

    picker.select(pick_sample, None, [photo, mode], api_visibility="private")
    # an upload becomes the photo; clearing the box (×) keeps the photo already chosen
    upload.change(lambda path: path if path else gr.update(), upload, photo, api_visibility="private")

    if presets:
        def on_preset(title):
            if not title:
                return gr.update(), "", *(gr.update() for _ in controls)
            story = next(text for name, text, *_ in presets if name == title)
            settings = preset_settings(task, title)
            return (preset_models(task, title, [value for _, value in choices]), f"*{story}*",
                    *(settings[p.name] if p.name in settings else gr.update() for p in TASKS[task].params))

        preset.input(on_preset, preset, [models, preset_story, *controls], api_visibility="private")

    def show_preview(path):
        if not path:
            return None, ""
        try:
            image, notes = app_core.read_upload(path)
        except StudioError as err:
            return None, f"⚠️ {err}"
        text = f"{app_core.describe_image(image)}" + "".join(f"\n- {n}" for n in notes)
        return image, text

    photo.change(show_preview, photo, [preview, info], api_visibility="private")

    def render(comparison):
        """What the result panel shows for one comparison (a new one, or its upscaled chain)."""
        v = app_core.views(comparison)
        names = app_core.image_choices(comparison)
        first, second = app_core.default_pair(comparison)
        height, width = comparison.input.image.shape[:2]
        crop_items, marked = app_core.crop_view(comparison, width / 2, height / 2, 64)
        return (app_core.summary_markdown(comparison), app_core.gallery_items(comparison),
                app_core.score_rows(comparison), gr.update(choices=names, value=first),
                gr.update(choices=names, value=second), app_core.pair(comparison, first, second),
                v.error_items, v.colorbar, marked, width // 2, height // 2, crop_items,
                plotly_json(v.perception_distortion), plotly_json(v.spectrum), v.bundle, comparison.run_id,
                gr.update(value=v.kernel_items, visible=bool(v.kernel_items)))

    @sweeps
    @user_errors
    def on_compare(path, mode_value, chosen, seed_value, *values, progress=gr.Progress()):
        # the controls, the reference and the large-photo choice, then the progress tracker Gradio
        # inserts where ``compare_signature`` declares it
        controls_values, (reference_path, large_value, *tracker) = values[:len(controls)], values[len(controls):]
        progress = tracker[0] if tracker else progress
        params = to_params(*controls_values)
        return render(app_core.compare(task, path, mode_value, chosen, params, seed_value,
                                       progress=lambda f, d: progress(f, desc=d), reference=reference_path or None,
                                       large=large_value or app_core.LARGE_DOWNSCALE))

    on_compare.__signature__ = compare_signature(spec, gr.Progress())

    panel = [summary, grid, table, left, right, slider, errors, colorbar, where, crop_x, crop_y, crops, pd_plot,
             spectrum, download, run_id, kernels]

    def clear_panel(path):
        """A new photo: the previous photo's results leave the page until Compare is pressed."""
        empty = [gr.update(value=None)] * len(panel)
        empty[panel.index(summary)] = ("New photo selected: press **Compare** to run the models on it."
                                       if path else "Pick a photo, then press **Compare**.")
        empty[panel.index(left)] = empty[panel.index(right)] = gr.update(choices=[], value=None)
        empty[panel.index(run_id)] = ""
        empty[panel.index(slider)] = gr.update(value=None, label="Left | Right")
        empty[panel.index(kernels)] = gr.update(value=None, visible=False)
        return empty

    photo.change(clear_panel, photo, panel, api_visibility="private")

    def name_halves(a, b):
        """The slider's title names its halves (a page-only step after each change of the pair)."""
        return gr.update(label=f"left: {a} | right: {b}" if a and b else "Left | Right")

    # cleared first, so a failed run shows only its message, never the previous photo's results
    def clear_for_run():
        cleared = clear_panel(None)
        cleared[panel.index(summary)] = "Running the models…"
        return cleared

    run.click(clear_for_run, None, panel, api_visibility="private", queue=False).then(
        on_compare, [photo, mode, models, seed, *controls, reference, large], panel, api_name=f"compare_{task}",
        concurrency_id=HEAVY, concurrency_limit=app_limits.MODEL_SLOTS, show_progress="full").then(
        name_halves, [left, right], slider, api_visibility="private", queue=False)
    if spec.upscale_chain:
        @sweeps
        @user_errors
        def on_upscale(rid, name, progress=gr.Progress()):
            return render(app_core.upscale_run(rid, name, progress=lambda f, d: progress(f, desc=d)))

        upscale.click(on_upscale, [run_id, upscaler], panel, api_name=f"upscale_{task}", concurrency_id=HEAVY,
                      concurrency_limit=app_limits.MODEL_SLOTS, show_progress="full").then(
            name_halves, [left, right], slider, api_visibility="private", queue=False)

    @user_errors
    def on_pair(rid, a, b):
        if not rid or not a or not b:
            return None
        return app_core.pair(app_core.get_run(rid), a, b)

    left.input(on_pair, [run_id, left, right], slider, api_name=f"slider_{task}").then(
        name_halves, [left, right], slider, api_visibility="private", queue=False)
    right.input(on_pair, [run_id, left, right], slider, api_visibility="private").then(
        name_halves, [left, right], slider, api_visibility="private", queue=False)

    @user_errors
    def on_crop(rid, x, y, size):
        comparison = app_core.get_run(rid)
        items, marked = app_core.crop_view(comparison, 0 if x is None else x, 0 if y is None else y,
                                           64 if size is None else size)
        return items, marked

    def on_click(rid, size, evt: gr.SelectData):
        x, y = evt.index
        items, marked = on_crop(rid, x, y, size)
        return x, y, items, marked

    where.select(on_click, [run_id, crop_size], [crop_x, crop_y, crops, where], api_visibility="private")
    crop_size.release(on_crop, [run_id, crop_x, crop_y, crop_size], [crops, where], api_name=f"crops_{task}")
    for number in (crop_x, crop_y):
        number.submit(on_crop, [run_id, crop_x, crop_y, crop_size], [crops, where], api_visibility="private")


# ---- benchmark tab --------------------------------------------------------------------------------

def build_benchmark_tab():
    gr.Markdown("Every model's scores on the public test sets, per image, from the evaluation CSVs the repository "
                "ships (`results/eval`). Δ is the gain over the input: what the model adds.")
    tasks = [t for t in TAB_ORDER if t in TASKS]
    with_results = app_benchmark.tasks_with_results()
    first_task = next((t for t in ("sr", *tasks) if t in with_results), tasks[0])
    with gr.Row():
        task = gr.Dropdown([(TAB_TITLES[t], t) for t in tasks], value=first_task, label="Task")
        sets = app_benchmark.test_sets(first_task)
        # any name: the page fills in one task's sets, an API client may ask for another's
        # (app_benchmark.load_frame checks it and lists the available ones)
        test_set = gr.Dropdown(sets, value=sets[0] if sets else None, label="Test set", allow_custom_value=True)
    description = gr.Markdown()
    histogram = gr.Plot(label="PSNR per image: the input and the models chosen below, overlaid")
    # its choices are the test set's models, filled in with it (the server refuses any other name)
    histogram_models = gr.CheckboxGroup([], label="Models in the histogram (default: the best learned model and "
                                                  "the best classical one of this test set)")
    table = gr.Dataframe(headers=app_benchmark.summary_headers(first_task), label="Summary", interactive=False)
    extremes = gr.Dataframe(headers=app_benchmark.best_worst_headers(first_task),
                            label="Best and worst image per model (ranked by Δ vs input)", interactive=False)
    with gr.Row():
        case_model = gr.Dropdown([], label="Model", allow_custom_value=True)  # checked by app_benchmark.cases
        show = gr.Button("Show its best and worst case (input / output / ground truth / error map)")
    case_notes = gr.Markdown()
    case_gallery = gr.Gallery(label="Best (first row) and worst (second row)", columns=4, height="auto", format="png",
                              object_fit="contain")
    with gr.Row():
        recompute = gr.Button("Recompute now on the sample photos the repository ships", variant="secondary")
        recomputed_csv = gr.File(label="Recomputed rows (CSV)")

    def view(task_value, set_value):
        if not set_value:
            return (f"No evaluation results for {task_value} yet in `results/eval` — press **Recompute** to "
                    "score the models on the shipped sample photos.", None, [], [], gr.update(choices=[], value=None),
                    gr.update(choices=[], value=[]))
        frame = app_benchmark.load_frame(task_value, set_value)
        models = list(dict.fromkeys(frame["model"].astype(str)))
        shown = app_benchmark.default_histogram_models(frame, task_value)
        summary = app_benchmark.summary(frame, task_value)
        for row in summary:
            row[5] = app_benchmark.format_parameters(row[5])
        return (app_benchmark.describe(frame, task_value, set_value),
                app_benchmark.histogram_figure(frame, task_value, set_value, shown),
                summary, app_benchmark.best_worst(frame, task_value),
                gr.update(choices=models, value=models[-1] if models else None),
                gr.update(choices=models, value=shown))

    on_view = user_errors(view)

    def on_task(task_value):
        names = app_benchmark.test_sets(task_value)
        value = names[0] if names else None
        return (gr.update(choices=names, value=value), *on_view(task_value, value))

    outputs = [description, histogram, table, extremes, case_model, histogram_models]
    task.change(user_errors(on_task), task, [test_set, *outputs], api_visibility="private")
    test_set.input(on_view, [task, test_set], outputs, api_name="benchmark")

    @user_errors
    def on_histogram(task_value, set_value, chosen):
        if not set_value:
            return None
        try:
            return app_benchmark.histogram_figure(app_benchmark.load_frame(task_value, set_value), task_value,
                                                  set_value, list(chosen or []))
        except ValueError as err:
            raise StudioError(f"Cannot draw that histogram: {err}.") from None

    histogram_models.input(on_histogram, [task, test_set, histogram_models], histogram, api_name="benchmark_histogram")

    @sweeps
    @user_errors
    def on_cases(task_value, set_value, model):
        if not model:
            raise StudioError("Pick a model first.")
        return app_benchmark.cases(task_value, set_value, model)[::-1]

    show.click(on_cases, [task, test_set, case_model], [case_notes, case_gallery], api_name="benchmark_cases",
               concurrency_id=HEAVY, concurrency_limit=app_limits.MODEL_SLOTS)

    @sweeps
    @user_errors
    def on_recompute(task_value, progress=gr.Progress(track_tqdm=True)):
        progress(0, desc="loading models")
        _, path = app_benchmark.recompute(task_value, progress=progress)
        name = f"{task_value}: {app_benchmark.RECOMPUTED}"
        return (gr.update(choices=app_benchmark.test_sets(task_value), value=name), *on_view(task_value, name), str(path))

    recompute.click(on_recompute, task, [test_set, *outputs, recomputed_csv], api_name="recompute_benchmark",
                    concurrency_id=HEAVY, concurrency_limit=app_limits.MODEL_SLOTS)
    return (task, test_set), view, outputs


# ---- models tab -----------------------------------------------------------------------------------

def build_models_tab():
    gr.Markdown("Every model of the studio: what it is, how it was trained, the lesson behind it and the command "
                "that reproduces it. Models without shipped weights are listed too, and never run.")
    gr.Markdown(app_models.DEBLUR_ROUTES)
    with gr.Accordion("Words used here (PSNR, SSIM, kernel, HQS, GAN, …)", open=False):
        gr.Markdown(glossary_markdown())
    gr.Dataframe(app_models.overview_rows(), headers=app_models.OVERVIEW_HEADERS, interactive=False, wrap=True,
                 label="All models")
    choices = app_models.model_choices()
    default = "srgan-v3" if "srgan-v3" in choices else choices[0]
    name = gr.Dropdown(choices, value=default, label="Model card")
    card = gr.Markdown(app_models.card_markdown(default))
    strip = gr.Gallery(label="Replay: its output on a validation crop during training (the dashboard's Replay page "
                             "compares runs step by step)", columns=6, height=220, format="png", object_fit="contain")
    curves = gr.Plot(label="Training curves (results/runs)")

    @user_errors
    def on_model(model):
        return app_models.card_markdown(model), app_models.replay_strip(model), app_models.curves_figure(model)

    name.change(on_model, name, [card, strip, curves], api_name="model_card")
    return name, on_model, [card, strip, curves]


# ---- the page -------------------------------------------------------------------------------------

def first_tab() -> str:
    """The tab that opens: the first task with a trained learned model (the Restoration tab waits for its)."""
    for task in TAB_ORDER:
        if task in TASKS and any(s.available and s.learned for s in app_core.model_statuses(task)):
            return task
    return "sr"


def build_demo() -> gr.Blocks:
    app_core.configure_threads()
    sweep_disk()  # what a previous server left beyond the limits
    age = int(app_limits.CACHE_MAX_AGE_S)
    with gr.Blocks(title="Restoration Studio", delete_cache=(int(app_limits.CACHE_SWEEP_S), age)) as demo:
        gr.Markdown("# Restoration Studio\nSee how image-restoration models differ: pick a photo (or upload yours), "
                    "press **Compare**, then slide between any two results, zoom, and read the error maps. Every "
                    "number is measured on the spot or read from a shipped evaluation file.", elem_id="studio-title")
        with gr.Tabs(selected=first_tab()):
            for task in TAB_ORDER:
                with gr.Tab(TAB_TITLES[task], id=task):
                    if task in TASKS:
                        build_task_tab(task)
                    else:
                        gr.Markdown(f"> **No {TAB_TITLES[task].lower()} models yet**: this task has not landed in "
                                    "this checkout.")
            with gr.Tab("Benchmark", id="benchmark"):
                (task, test_set), view, outputs = build_benchmark_tab()
            with gr.Tab("Models", id="models"):
                model, on_model, model_outputs = build_models_tab()
        # The first benchmark view and training curves are filled once the page is up (pandas + plotly take
        # a noticeable share of start-up: `python -m benchmarks.bench_app`), so start-up builds no figure.
        demo.load(user_errors(view), [task, test_set], outputs, api_visibility="private")
        demo.load(on_model, model, model_outputs, api_visibility="private")
    demo.queue(default_concurrency_limit=2, max_size=app_limits.QUEUE_SIZE)
    _demos.add(demo)
    return demo


if __name__ == "__main__":
    build_demo().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), **launch_kwargs())
