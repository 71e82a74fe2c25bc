"""Before Qt loads: is there a display, does Qt's xcb plugin find its system libraries,
and does an X server answer at DISPLAY?

Without them Qt prints a long message and aborts the process ("could not load the Qt
platform plugin xcb"). A new user on a bare Debian/Ubuntu machine hits this first, so
we look for the missing libraries ourselves (``ldd`` of PySide6's ``libqxcb.so``) and
say, in one line, which ``apt-get install`` fixes it. Imports no Qt.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from pipeline.errors import LongtailError

# The Debian/Ubuntu package of each library Qt's xcb plugin links to.
DEBIAN_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}

# Loaded by the plugin at run time (not all are in its ldd list): probed with ctypes
# where ldd is not available.
XCB_RUNTIME_LIBRARIES = (
    "libxcb-cursor.so.0",
    "libxcb-icccm.so.4",
    "libxcb-keysyms.so.1",
    "libxcb-image.so.0",
    "libxcb-render-util.so.0",
    "libxcb-randr.so.0",
    "libxcb-shape.so.0",
    "libxkbcommon-x11.so.0",
)

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


class PlatformError(LongtailError):
    """The window cannot open on this machine; the message says what to do."""


def missing_from_ldd(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as 'not found', each once, in order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def debian_package(soname: str) -> str:
    """The Debian package that ships ``soname`` (by the naming rule where not listed:
    libfoo-bar.so.4 -> libfoo-bar4, libfoo1.so.0 -> libfoo1-0)."""
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    stem, _, version = soname.partition(".so.")
    version = version.split(".")[0]
    name = stem.lower()
    return f"{name}-{version}" if name[-1:].isdigit() else f"{name}{version}"


def install_message(missing: list[str]) -> str:
    """One line: what is missing and the exact command that installs it."""
    packages = list(dict.fromkeys(debian_package(name) for name in missing))
    return (
        f"Qt's xcb platform plugin cannot load: {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} missing; install with: "
        f"sudo apt-get install {' '.join(packages)}"
    )


def no_display_message() -> str:
    return (
        "no display: neither DISPLAY nor WAYLAND_DISPLAY is set; run longtail in a desktop "
        "session, under `xvfb-run -a longtail gui`, or with QT_QPA_PLATFORM=offscreen "
        "(no visible window)"
    )


def unreachable_display_message(display: str) -> str:
    return (
        f"the X display {display!r} (DISPLAY) cannot be reached: no X server answers there; "
        "start one or fix DISPLAY, run under `xvfb-run -a longtail gui`, or use "
        "QT_QPA_PLATFORM=offscreen (no visible window)"
    )


def display_reachable(display: str) -> bool | None:
    """Whether an X server answers at ``display`` (libxcb's own connect, as Qt's plugin
    does), or None where libxcb cannot be loaded (the missing-library check covers that).
    Qt itself, failing to connect, blames a missing xcb-cursor library."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    xcb.xcb_connection_has_error.restype = ctypes.c_int
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.restype = None
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    # a failed connect returns a (static) error connection, never NULL; disconnecting it is safe
    connection = xcb.xcb_connect(display.encode(), None)
    if not connection:
        return False
    try:
        return xcb.xcb_connection_has_error(connection) == 0
    finally:
        xcb.xcb_disconnect(connection)


def xcb_plugin_path() -> Path | None:
    """PySide6's libqxcb.so, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if path.is_file():
            return path
    return None


def run_ldd(path: Path) -> str | None:
    """``ldd path``'s output, or None where ldd is not available."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run(
            [ldd, str(path)], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_libraries(
    ldd: Callable[[Path], str | None] = run_ldd,
    loadable: Callable[[str], bool] = _loadable,
    plugin: Path | None = None,
) -> list[str]:
    """System libraries Qt's xcb plugin needs and this machine lacks."""
    plugin = plugin or xcb_plugin_path()
    output = ldd(plugin) if plugin is not None else None
    missing = missing_from_ldd(output) if output is not None else []
    # libxcb-cursor is opened by name at run time by some Qt builds: check it either way.
    for soname in XCB_RUNTIME_LIBRARIES if output is None else ("libxcb-cursor.so.0",):
        if soname not in missing and not loadable(soname):
            missing.append(soname)
    return missing


def platform_problem(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    missing: Callable[[], list[str]] = missing_xcb_libraries,
    reachable: Callable[[str], bool | None] = display_reachable,
) -> str | None:
    """Why a window cannot open here (one line), or None when it can (as far as we can
    tell before Qt loads): missing libraries first, then an X server that does not answer.
    Only Linux is checked; other platforms bring their own plugin."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    if qpa and qpa != "xcb":
        return None  # offscreen, wayland, vnc...: not the xcb plugin
    has_x = bool(env.get("DISPLAY"))
    if not qpa and env.get("WAYLAND_DISPLAY") and not has_x:
        return None  # Qt takes its wayland plugin
    if not has_x:
        return no_display_message()
    lacking = missing()
    if lacking:
        return install_message(lacking)
    if reachable(env["DISPLAY"]) is False:
        return unreachable_display_message(env["DISPLAY"])
    return None


def check_platform() -> None:
    """Raise :class:`PlatformError` with a one-line remedy where a window cannot open."""
    problem = platform_problem()
    if problem is not None:
        raise PlatformError(problem)
