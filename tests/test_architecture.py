"""The house rules of docs/architecture.md, checked on the source: the library (``studio/``) imports
no UI toolkit, the two UIs do not import each other, task-specific behaviour is asked of the task
(no comparison with a task name outside the task definitions), and nothing outside the engine
calls a private ``Trainer`` method."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STUDIO = ROOT / "studio"
UI_TOOLKITS = {"gradio", "gradio_client", "streamlit"}
TASK_NAMES = {"sr", "deblur", "restoration", "denoise", "classification"}
#: where the tasks are defined: the only places that may say a task's name in a comparison
TASK_DEFINITIONS = {STUDIO / "tasks.py", STUDIO / "registry.py"}


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (lazy imports count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def room(path: Path) -> str:
    parts = path.relative_to(STUDIO).parts
    return parts[0] if parts[0] in ("app", "dashboard") and len(parts) > 1 else "library"


def test_the_library_imports_no_ui_toolkit_and_the_uis_not_each_other():
    offences = []
    for path in python_files(STUDIO):
        modules = imported_modules(path)
        tops = {m.split(".")[0] for m in modules}
        where = room(path)
        if where == "library" and tops & UI_TOOLKITS:
            offences.append(f"{path.relative_to(ROOT)} imports {sorted(tops & UI_TOOLKITS)}")
        if where == "library" and any(m.startswith(("studio.app", "studio.dashboard")) for m in modules):
            offences.append(f"{path.relative_to(ROOT)} (library) imports a UI module")
        other = {"app": "studio.dashboard", "dashboard": "studio.app"}.get(where)
        if other and any(m == other or m.startswith(other + ".") for m in modules):
            offences.append(f"{path.relative_to(ROOT)} imports {other}")
    assert offences == []


def _task_name_comparisons(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Compare):
            continue
        for side in (node.left, *node.comparators):
            values = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            named = [v.value for v in values if isinstance(v, ast.Constant) and v.value in TASK_NAMES]
            if named:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} compares with {named}")
    return found


def test_no_comparison_with_a_task_name_outside_the_task_definitions():
    files = [p for p in python_files(STUDIO) if p not in TASK_DEFINITIONS] + [ROOT / "app.py"]
    assert [hit for path in files for hit in _task_name_comparisons(path)] == []


def test_the_task_name_check_finds_what_it_looks_for():
    probe = STUDIO / "_probe_for_the_architecture_test.py"
    try:
        probe.write_text('if task == "sr":\n    pass\nok = kind in ("gan", "deblur")\nfine = name == "srresnet"\n')
        hits = _task_name_comparisons(probe)
    finally:
        probe.unlink()
    assert [h.split(" compares with ")[1] for h in hits] == ["['sr']", "['deblur']"]


@pytest.mark.parametrize("folder", ["training", "studio", "benchmarks", "tests", "docs"])
def test_no_private_trainer_method_is_called_outside_the_engine(folder):
    private = {name for name in re.findall(r"^    def (_[a-z]\w*)\(", (STUDIO / "engine.py").read_text(), re.M)}
    offences = []
    for path in python_files(ROOT / folder):
        if path == STUDIO / "engine.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for name in private:
                if re.search(rf"\btrainer\.{name}\b|\bself\.trainer\.{name}\b", line):
                    offences.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offences == []


def test_the_protocol_calls_training_functions_not_command_lines():
    """The protocol runs a family through ``make_args(**options)`` and ``train(args)``: no argv list
    is built for another script's ``main`` or ``parse_args``."""
    offences = []
    for path in python_files(ROOT / "training" / "protocol"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\btrain_\w+\.(main|parse_args)\(", line):
                offences.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offences == []


@pytest.mark.parametrize("family", ["train_sr", "train_classifier", "train_deblur", "train_restoration",
                                    "train_denoiser"])
def test_every_training_family_is_a_function(family):
    """``make_args(**options)`` then ``train(args)``: what the protocol and the experiments call."""
    import importlib
    import inspect

    module = importlib.import_module(f"training.{family}")
    assert callable(module.make_args) and list(inspect.signature(module.train).parameters) == ["args"]
