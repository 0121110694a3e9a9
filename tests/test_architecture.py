"""The house rules of docs/architecture.md, checked on the source: the library (``studio/``) imports
no UI toolkit, the two UIs do not import each other, task-specific behaviour is asked of the task
(no comparison with a task name outside the task definitions, in the library, the training code or
the benchmarks), a family's library code stays in its package, and nothing outside the engine calls
a private ``Trainer`` method."""

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


@pytest.mark.parametrize("folder", ["studio", "training", "benchmarks"])
def test_no_comparison_with_a_task_name_outside_the_task_definitions(folder):
    files = [p for p in python_files(ROOT / folder) if p not in TASK_DEFINITIONS]
    files += [ROOT / "app.py"] if folder == "studio" else []
    assert [hit for path in files for hit in _task_name_comparisons(path)] == []


#: the library's family packages: what belongs to one family lives in its own
FAMILY_PACKAGES = ("classify", "deblur", "restoration", "sr")
#: the shared primitives: they serve every family, so they import none
PRIMITIVES = ("imageio", "metrics", "tiling", "checkpoint", "resize", "registry", "losses", "data", "cli", "engine",
              "data_sources", "results")


def _family_imports(path: Path) -> set[str]:
    return {m.split(".")[1] for m in imported_modules(path)
            if m.startswith("studio.") and m.split(".")[1] in FAMILY_PACKAGES}


def test_family_packages_import_no_other_family_and_primitives_import_none():
    offences = []
    for family in FAMILY_PACKAGES:
        assert (STUDIO / family / "__init__.py").is_file(), f"studio/{family} is not a package"
        for path in python_files(STUDIO / family):
            others = _family_imports(path) - {family}
            if others:
                offences.append(f"{path.relative_to(ROOT)} imports the {sorted(others)} family")
    for name in PRIMITIVES:
        found = _family_imports(STUDIO / f"{name}.py")
        if found:
            offences.append(f"studio/{name}.py (a shared primitive) imports the {sorted(found)} family")
    assert offences == []


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
