"""No measured figure in prose: a number with a unit in a comment, docstring, string or Markdown page
goes stale the day its model is retrained or its benchmark re-run. Measured figures live in
``results/`` (CSV, JSON, the generated ``.md`` reports) and in ``checkpoints/*/card.json``; prose names
the file or the command that produces them, and text shown to users reads them at run time
(``studio.app.model_cards.LESSONS``, the README tables of ``studio.readme_tables``).

What is scanned: every ``.py`` and ``.md`` file git knows of (tracked, or new and not ignored), outside
``tests/`` and ``results/``. In ``.py`` files only comments, docstrings and strings count (``tokenize``:
code such as ``size // 2`` or ``x % 2`` is not prose); adjacent string literals and consecutive comment
lines are read as one text, so a sentence split over several lines stays one sentence. In ``.md``
files the generated tables between ``<!-- table: NAME ... -->`` and ``<!-- /table: NAME -->`` are
skipped (their figures are written from results/ by ``python -m studio.readme_tables``).

A figure is a number followed by one of ``UNITS`` (``31.73 dB``, ``+0.21 dB``, ``2.5 s``, ``~52,500 steps``,
``1.2M params``, ``15 %``, ``1.7M-parameter``). Each must be on ``ALLOWED`` or be rephrased: a setting is
named by its constant or its flag rather than repeated (``TARGETS["compare"]``, ``--cap-mb``), a
measurement by the file or the command that holds it.
"""

from __future__ import annotations

import fnmatch
import io
import os
import re
import subprocess
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".git", "results", "tests", "__pycache__"}

#: units a measured figure is quoted in: PSNR, time, size, share, training length, model size
UNITS = ("dB", "ms", "seconds", "secs?", "s", "[kKMG]i?B", "%", "steps", "params", "parameters")
#: the same units glued into an adjective: "a 1.7M-parameter denoiser", "the 30-second goal"
HYPHENATED = ("parameter", "second", "step", "dB")
NUMBER = r"[~≈±+−-]?\d+(?:,\d{3})*(?:\.\d+)?[kKM]?"
FIGURE = re.compile(rf"(?<![\w.]){NUMBER}(?:[ \u00a0\u202f]?(?:{'|'.join(UNITS)})|-(?:{'|'.join(HYPHENATED)}))(?!\w)")

#: a figure in the same sentence as, and after, the name of the document it comes from: the deblurring
#: logbook, a source document by number, a published result ("SRGAN's published 29.40 dB")
_SENTENCE = r"(?:[^.!?]|[.!?](?![\s\"')\]]|$)){0,200}?"
SOURCE_QUOTE = re.compile(rf"(?i)\b(?:logbook|source \d{{3}}|published)\b{_SENTENCE}{FIGURE.pattern}")


@dataclass(frozen=True)
class Allowed:
    """Figures that may stay: those of files matching ``path`` (a glob), and, when ``pattern`` is
    given, only where a match of ``pattern`` in the same text covers the figure."""
    path: str
    pattern: re.Pattern | None
    reason: str


ALLOWED = [
    Allowed("docs/sources.md", None,
            "the summary of the source documents: their own figures, quoted"),
    Allowed("*", SOURCE_QUOTE,
            "a figure quoted from the logbook, a numbered source or a published paper, named in its sentence"),
]


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    figure: str
    text: str  # the comment block, string literal or Markdown page it was found in
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.figure!r}"


def scanned_files(root: Path = ROOT) -> list[str]:
    """The .py and .md files to scan, relative to ``root`` (POSIX paths)."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root,
                                capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk it
        listed = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
            listed += [Path(folder, name).relative_to(root).as_posix() for name in names]
    return sorted({path for path in listed
                   if path.endswith((".py", ".md")) and not set(Path(path).parts) & SKIPPED_DIRS
                   and (root / path).is_file()})


_BLOCK = re.compile(r"<!-- table: (?P<name>[\w.-]+)\b.*?-->.*?<!-- /table: (?P=name) -->", re.S)


def _markdown_texts(source: str) -> list[tuple[str, list[tuple[int, int]]]]:
    """The page with its generated blocks blanked (line numbers kept)."""
    text = _BLOCK.sub(lambda m: "\n" * m.group(0).count("\n"), source)
    return [(text, [(0, 1)])]


def _python_texts(source: str) -> list[tuple[str, list[tuple[int, int]]]]:
    """Comment blocks and string literals (adjacent literals joined), each with (offset, line) anchors."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(position):
        return starts[position[0] - 1] + position[1]

    fstring_start = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+: an f-string is several tokens
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    pieces, depth, opened = [], 0, None
    joins = {"comment": {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}, "string": {tokenize.NL}}
    last_kind = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if fstring_start is not None and token.type == fstring_start:
            depth, opened = depth + 1, opened if depth else token.start
            continue
        if depth:
            if token.type == fstring_end:
                depth -= 1
                if not depth:
                    token = tokenize.TokenInfo(tokenize.STRING, source[offset(opened):offset(token.end)],
                                               opened, token.end, token.line)
            if depth:
                continue
        kind = {tokenize.COMMENT: "comment", tokenize.STRING: "string"}.get(token.type)
        if kind is None:
            if last_kind and token.type not in joins[last_kind]:
                last_kind = None
            continue
        if kind == last_kind:
            pieces[-1].append((token.start[0], token.string))
        else:
            pieces.append([(token.start[0], token.string)])
        last_kind = kind
    texts = []
    for group in pieces:
        text, anchors = "", []
        for line, piece in group:
            anchors.append((len(text), line))
            text += piece + "\n"
        texts.append((text, anchors))
    return texts


def figures(path: str, source: str) -> list[Hit]:
    """Every figure with a unit in the prose of ``source`` (the text of ``path``)."""
    texts = _markdown_texts(source) if path.endswith(".md") else _python_texts(source)
    hits = []
    for text, anchors in texts:
        for match in FIGURE.finditer(text):
            anchor, line = max((a for a in anchors if a[0] <= match.start()), key=lambda a: a[0])
            line += text.count("\n", anchor, match.start())
            hits.append(Hit(path, line, match.group(0), text, match.start(), match.end()))
    return hits


def allowed_by(hit: Hit) -> Allowed | None:
    for entry in ALLOWED:
        if not fnmatch.fnmatch(hit.path, entry.path):
            continue
        if entry.pattern is None or any(m.start() <= hit.start and hit.end <= m.end()
                                        for m in _covering(entry.pattern, hit)):
            return entry
    return None


def _covering(pattern: re.Pattern, hit: Hit):
    """Matches of ``pattern`` ending at the figure (so a sentence holding several is tried at each)."""
    for start in range(max(0, hit.start - 300), hit.start + 1):
        match = pattern.fullmatch(hit.text, start, hit.end)
        if match:
            yield match


def unallowed(path: str, source: str) -> list[Hit]:
    return [hit for hit in figures(path, source) if allowed_by(hit) is None]


def read(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


# -- the scanner itself -------------------------------------------------------------------------------

def test_finds_figures_in_prose_and_skips_code():
    source = ('"""Reaches 31.73 dB on Set5."""\n'
              "half = size // 2  # takes ~2.5 s per step\n"
              "odd = n % 2\n"
              'label = ("trained for ~52,500 steps, "\n'
              '         "a 1.2M params model, +0.21 dB over it")\n'
              "# 8 s left\n")
    found = [(hit.line, hit.figure) for hit in figures("planted.py", source)]
    assert found == [(1, "31.73 dB"), (2, "~2.5 s"), (4, "~52,500 steps"), (5, "1.2M params"), (5, "+0.21 dB"),
                     (6, "8 s")]


def test_skips_generated_tables_only():
    page = ("Prose: 12.5 dB.\n"
            "<!-- table: sr-results (generated by python -m studio.readme_tables; do not edit) -->\n"
            "| model | PSNR |\n| bicubic | 28.43 dB |\n"
            "<!-- /table: sr-results -->\n"
            "After it: 3 s and 15 %.\n")
    assert [(hit.line, hit.figure) for hit in figures("planted.md", page)] == [(1, "12.5 dB"), (6, "3 s"), (6, "15 %")]


def test_ignores_numbers_that_are_not_figures():
    source = ('"""Set5 x4, 96 px crops, lr 1e-4, batch 8, steps and params, 2x2 convs, {x:.1%} and v3."""\n'
              'f"{score:.2f} dB"\n')
    assert figures("planted.py", source) == []


def test_source_quotes_are_allowed_and_measurements_are_not():
    source = ('LESSON = ("the logbook reports 27.50 dB on validation; its next run 28.03 dB. "\n'
              '          "Here: 31.73 dB from srresnet. SRGAN\'s published 29.40 dB.")\n')
    assert [hit.figure for hit in unallowed("studio/planted.py", source)] == ["31.73 dB"]


def test_the_allow_list_is_short_and_reasoned():
    assert len(ALLOWED) < 15
    for entry in ALLOWED:
        assert entry.reason.strip() and "\n" not in entry.reason, entry


def test_every_allowance_is_used():
    hits = [hit for path in scanned_files() for hit in figures(path, read(path))]
    used = {id(allowed_by(hit)) for hit in hits}
    assert all(id(entry) in used for entry in ALLOWED), [e for e in ALLOWED if id(e) not in used]


# -- the repository -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", scanned_files())
def test_no_measured_figure_in_prose(path):
    hits = unallowed(path, read(path))
    assert not hits, ("figures with units in prose: cite the results file or the command that produces "
                      "them, name the setting, or quote the source in the same sentence:\n"
                      + "\n".join(map(str, hits)))
