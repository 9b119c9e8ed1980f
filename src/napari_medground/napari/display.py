"""Is there a screen to open napari on? Asked before napari or Qt is imported.

On Linux without ``DISPLAY`` or ``WAYLAND_DISPLAY`` (a server, a container, an SSH
session), Qt cannot load a platform plugin and aborts the process ("no Qt platform plugin
could be initialized … Aborted"). The commands that open a window call
:func:`require_display` first and turn that into one line naming what to run instead.
A platform chosen explicitly through ``QT_QPA_PLATFORM`` (``offscreen``, ``xcb`` with a
remote display, ...) is the user's choice and is left alone. macOS and Windows always
have a screen for a desktop session. This module imports neither Qt nor napari.
"""
from __future__ import annotations

import os
import shutil
import sys
from typing import Mapping

from ..errors import MedgroundError

XVFB_ARGS = ("xvfb-run", "-a", "-s", "-screen 0 1600x1000x24")
XVFB_MARK = "MEDGROUND_UNDER_XVFB"  # set when a command re-ran itself under xvfb-run


class NoDisplay(MedgroundError):
    """No screen to open a window on; the message says what to run instead."""


def display_missing(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """True on Linux when neither an X nor a Wayland display is set and no Qt platform
    was chosen explicitly."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def require_display(command: str, instead: str, env: Mapping[str, str] | None = None,
                    platform: str | None = None) -> None:
    """Raise :class:`NoDisplay` (one line: the problem, then ``instead``) where no display is.

    Parameters
    ----------
    command : str
        What wanted the window, e.g. ``"the demo"``.
    instead : str
        The command line to suggest, e.g. ``"xvfb-run -a medground demo --screenshot demo.png"``.
    """
    if not display_missing(env, platform):
        return
    tool = "" if shutil.which("xvfb-run") else (
        " (xvfb-run is in the xvfb package: apt-get install xvfb xauth)")
    raise NoDisplay(f"no display to open {command} on (DISPLAY and WAYLAND_DISPLAY are unset): "
                    f"run `{instead}` to save it as an image{tool}, or run it where there is a screen")


def xvfb_command(argv: list[str], env: Mapping[str, str] | None = None) -> list[str] | None:
    """``argv`` under ``xvfb-run`` when that helps: no display, ``xvfb-run`` installed, and
    not already re-run once (else None)."""
    env = os.environ if env is None else env
    if not display_missing(env) or env.get(XVFB_MARK) or shutil.which("xvfb-run") is None:
        return None
    return [*XVFB_ARGS, *argv]
