"""`medground` command line: a thin layer over the Python API.

Each sub-command lives in ``napari_medground/commands/<name>.py`` as
``add_arguments(parser)`` and ``run(args) -> int``; heavy imports happen inside ``run``
so that ``medground --help`` and ``medground parse`` stay fast.

Errors: a :class:`~napari_medground.errors.MedgroundError` or running out of memory
becomes one line on stderr and exit code 2; anything unexpected becomes one line too (exit 3) unless
``MEDGROUND_DEBUG=1`` asks for the traceback. Library logs and warnings reach stderr
only with ``--verbose`` (:mod:`napari_medground.noise`).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

COMMANDS = {
    "info": "shape, spacing, LPS affine, orientation and modality of a study",
    "parse": "the parsed query of a typed finding (no image needed)",
    "ground": "ground a finding on a study: result.json + labels.nii.gz (+ exports)",
    "models": "models, licences, where their weights are and whether present",
    "demo": "open napari on a bundled example and run one finding",
    "batch": "run ground over a manifest of studies on Dask",
    "evaluate": "per-structure Dice, HD95, surface Dice, volume and centroid agreement with reference labels",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medground", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module = _command_module(name)
        if module is not None:
            module.add_arguments(p)
    return parser


def _command_module(name: str):
    try:
        return importlib.import_module(f"napari_medground.commands.{name}")
    except ModuleNotFoundError as exc:  # a command not built yet
        if exc.name and exc.name.endswith(f"commands.{name}"):
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    from .errors import MedgroundError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from .noise import quiet_libraries

    quiet_libraries(args.verbose)
    if not args.command:
        parser.print_help()
        return 0
    module = _command_module(args.command)
    if module is None:
        print(f"medground {args.command}: not available in this build", file=sys.stderr)
        return 2
    try:
        return int(module.run(args) or 0)
    except MedgroundError as exc:
        print(f"medground {args.command}: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        _out_of_memory(args.command)
        return 2
    except KeyboardInterrupt:
        print(f"medground {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the reader left: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - last resort: one line, never a traceback dump
        if os.environ.get("MEDGROUND_DEBUG"):
            raise
        if _is_out_of_memory(exc):  # torch: "DefaultCPUAllocator: can't allocate memory", CUDA OOM
            _out_of_memory(args.command)
            return 2
        print(f"medground {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(set MEDGROUND_DEBUG=1 for details)", file=sys.stderr)
        return 3


def _is_out_of_memory(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "outofmemory" in text or "out of memory" in text or "can't allocate memory" in text


def _out_of_memory(command: str) -> None:
    print(f"medground {command}: out of memory: the study or the model needs more memory than this process "
          "may use (free memory or raise the limit, use a cropped/downsampled study, or --device cpu)",
          file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
