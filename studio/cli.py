"""What the repository's command lines share, so each of their errors is one clear line and a
non-zero exit, never a traceback, and never after the work is done:

* ``ArgumentParser``: argparse whose errors are one line, and whose ``type=float`` options refuse
  NaN and infinity (``finite_float``);
* ``number``: an argparse type with a range (``--tile -5``, ``--scale 0`` are refused when parsed);
* ``check_writable``: an output file or folder is checked before the work starts;
* ``one_line_errors``: a ``main`` whose user-fixable failures (a missing checkpoint, a run that
  already exists, a pickle file, a NaN loss) end with ``error: <message>`` and exit status 1.
  ``STUDIO_TRACEBACK=1`` re-raises them instead, with the traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from functools import wraps
from pathlib import Path


class CommandError(ValueError):
    """A command cannot start or go on (an unwritable output, a missing input); the message says why."""


def one_line(err: BaseException | str) -> str:
    """An error message on one line (some carry newlines from the libraries below)."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else err  # KeyError's str() adds quotes
    return " ".join(str(text).split())


def finite_float(text: str) -> float:
    """argparse type: a float that is neither NaN nor infinite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def number(low: float | None = None, high: float | None = None, integer: bool = True):
    """argparse type: an int (or a finite float) within [low, high]."""

    def parse(text: str):
        if integer:
            try:
                value = int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        else:
            value = finite_float(text)
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = (f"between {low:g} and {high:g}" if low is not None and high is not None
                      else f"at least {low:g}" if low is not None else f"at most {high:g}")
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value

    parse.__name__ = "int" if integer else "float"
    return parse


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors, whose ``type=float`` options refuse NaN and infinity."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse looks a type up in this registry first: every `type=float` becomes finite_float
        self.register("type", float, finite_float)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def check_writable(path, option: str, folder: bool = False) -> Path:
    """``path`` if a file (``folder=False``) or a folder could be written there; ``CommandError`` naming
    ``option`` otherwise. Nothing is created, so a command that fails later leaves no empty folder."""
    path = Path(path)
    kind = "folder" if folder else "file"
    try:
        if path.exists():
            if folder and not path.is_dir():
                raise CommandError(f"{option} {path}: is a file, not a folder")
            if not folder and path.is_dir():
                raise CommandError(f"{option} {path}: is a folder, not a file")
            target = path if folder else path.parent
            if not os.access(path, os.W_OK) or not os.access(target, os.W_OK | os.X_OK):
                raise CommandError(f"{option} {path}: not writable")
            return path
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise CommandError(f"{option} {path}: {ancestor} is a file, so no {kind} can be made under it")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise CommandError(f"{option} {path}: cannot create it, {ancestor} is not writable")
    except OSError as err:  # e.g. a name too long for the file system
        raise CommandError(f"{option} {path}: {err.strerror or err}") from None
    return path


def one_line_errors(*errors: type[BaseException]):
    """Decorate a command's ``main``: the given exception types (besides ``CommandError`` and
    ``KeyError``) end the command with ``error: <one line>`` on stderr and exit status 1."""
    caught = (CommandError, KeyError, *errors)

    def decorate(main):
        @wraps(main)
        def run(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except caught as err:
                if os.environ.get("STUDIO_TRACEBACK"):
                    raise
                sys.exit(f"error: {one_line(err)}")

        return run

    return decorate


def to_argv(parser: argparse.ArgumentParser, options: dict) -> list[str]:
    """The command-line form of ``options`` (option name as in ``args``, i.e. ``image_size``, ->
    value) for ``parser``: what a user would type. None is left out, a flag is given when true.
    A training script's ``make_args`` uses it, so Python callers (the protocol) pass keywords and
    the script parses, checks and records exactly what its own command line would."""
    by_dest = {action.dest: action for action in parser._actions if action.option_strings}
    argv = []
    for dest, value in options.items():
        action = by_dest.get(dest)
        if action is None:
            raise TypeError(f"{parser.prog} has no option {dest!r}")
        flag = next((s for s in action.option_strings if s.startswith("--")), action.option_strings[0])
        if value is None:
            continue
        if action.nargs == 0:  # store_true / store_false
            if value != action.default:
                argv.append(flag)
        elif isinstance(value, (list, tuple)):
            if action.nargs in ("+", "*"):
                argv += [flag, *map(str, value)]
            else:  # an "append" option, once per value
                for item in value:
                    argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv


def parse_as_command(parse_args, module: str, argv, shown=None):
    """``parse_args(argv)`` plus ``args.command``, the command line that gives these arguments
    (``python -m <module> ...``; ``shown`` rewrites the tokens for display, e.g. dataset paths).
    Every training script's ``main`` and ``make_args`` go through it, so a run started from Python
    records the same reproducible command as one typed in a shell."""
    import shlex

    argv = [str(token) for token in argv]
    args = parse_args(argv)
    args.command = f"python -m {module} " + shlex.join(shown(argv) if shown else argv)
    return args
