"""Real-window tests: the environment of an app process on a private Xvfb server (the
server itself is the ``x_display`` fixture in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

from skips import needs

REPO = Path(__file__).resolve().parents[1]


def xcb_env(display: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment for an app process drawing through Qt's xcb plugin on
    ``display``, with its own settings folder; skips where the xcb libraries are
    missing (never on CI, where .ci/run installs them and a missing one must fail)."""
    from app.gui.platform_check import missing_xcb_libraries

    missing = missing_xcb_libraries()
    if missing and os.environ.get("CI") != "true":
        needs(f"xcb libraries {', '.join(missing)}", ".ci/run installs them")
    env = dict(
        os.environ,
        DISPLAY=display,
        QT_QPA_PLATFORM="xcb",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        **extra,
    )
    env.pop("WAYLAND_DISPLAY", None)
    return env
