"""Database passwords: used to connect, never stored, logged or shown.

A team project is named by a PostgreSQL URL. Its password comes from, in this order:

1. the URL itself (accepted, then taken out at once: the project, ``longtail status``,
   the GUI's recent projects and every message see the URL without it);
2. a password this process was given before for the same server and user (the URL of
   an earlier open, or a prompt), kept in memory only;
3. libpq's own sources, which psycopg consults when no password is passed:
   ``PGPASSWORD``, the password file (``~/.pgpass`` or ``PGPASSFILE``), ``PGSERVICE``;
4. a prompt, when the server asks for a password none of these gave: the terminal's
   (hidden input) when longtail runs in one, or whatever a front end installs with
   :func:`set_prompt` (the GUI: a password dialog).

Nothing here writes a password anywhere; :func:`child_environment` hands one to a
subprocess (training) through its environment, which only the same user can read.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..errors import LongtailError

Prompt = Callable[[str], "str | None"]
"""Asks for the password of the URL shown (without its password); None: cancelled."""

PROMPT_ATTEMPTS = 3

_lock = threading.Lock()
_passwords: dict[tuple[str, str, str], str] = {}
_prompt: Prompt | None = None
_prompt_set = False


class ConnectionFailed(LongtailError):
    """The database server could not be reached, or refused the credentials."""


# ---------------------------------------------------------------- showing URLs


# What may follow the user part of a URL: host[:port], then /database, then ?key=value&...
# (no '@' in the host or the database; a query value may hold anything but '&').
_AFTER_USERINFO = re.compile(
    r"[^@/?#\s]*(?:/[^@?#\s]*)?(?:\?[^=&\s#@]+=[^&\s#]*(?:&[^=&\s#@]+=[^&\s#]*)*)?"
)


@dataclass(frozen=True)
class _Parts:
    """A server URL taken apart the way a person typed it."""

    scheme: str
    user: str | None
    password: str | None  # percent escapes decoded
    rest: str  # host[:port][/database][?query], the query without any password=


def _parts(url: str) -> _Parts:
    """Split ``url`` without trusting it to be well-formed: a raw ``@ # % : /`` or ``?`` in
    the password is taken as part of it. The user part ends at the first ``@`` after which
    a plausible host, database and query follow (else at the last ``@``)."""
    scheme, _, after = url.partition("://")
    ats = [i for i, c in enumerate(after) if c == "@"]
    cut = next((i for i in ats if _AFTER_USERINFO.fullmatch(after[i + 1 :])), None)
    if cut is None and ats:
        cut = ats[-1]
    userinfo, rest = (after[:cut], after[cut + 1 :]) if cut is not None else (None, after)
    user = password = None
    if userinfo is not None:
        user, colon, secret = userinfo.partition(":")
        password = unquote(secret) if colon else None
    location, question, query = rest.partition("?")
    if question:
        kept: list[str] = []
        pieces: list[str] | None = None  # a password= value; a raw '&' splits it
        in_password = False
        for pair in query.split("&"):
            key, equals, value = pair.partition("=")
            if key.lower() == "password":
                pieces, in_password = [value], True
            elif in_password and not equals and pieces is not None:
                pieces.append(pair)
            else:
                kept.append(pair)
                in_password = False
        if pieces is not None and password is None:
            password = unquote("&".join(pieces))
        rest = location + ("?" + "&".join(kept) if kept else "")
    return _Parts(scheme, user, password, rest)


def public_url(url: str) -> str:
    """``url`` without its password (in the user part or as a ``password=`` parameter),
    whatever characters the password holds."""
    if "://" not in url:
        return url
    parts = _parts(url)
    if parts.password is None and "@" not in url.partition("://")[2].split("/")[0]:
        return url  # nothing to remove: keep the spelling the user gave
    user = f"{parts.user}@" if parts.user else ""
    return f"{parts.scheme}://{user}{parts.rest}"


def shown(target: str | os.PathLike[str]) -> str:
    """How a project target (folder or URL) may be shown: a URL loses its password."""
    text = os.fspath(target)
    return public_url(text) if "://" in text else text


_URL = re.compile(r"[a-z][a-z0-9+.\-]*://\S+", re.IGNORECASE)
_KEYWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;]+)", re.IGNORECASE)


def scrub(text: str) -> str:
    """``text`` (an error message, a log line) with every URL or conninfo password removed."""
    text = _URL.sub(lambda m: public_url(m.group(0)), text)
    return _KEYWORD.sub(r"\1***", text)


# ---------------------------------------------------------------- passwords


def _server_key(host: Any, port: Any, user: Any) -> tuple[str, str, str]:
    return (str(host or "localhost"), str(port or 5432), str(user or getpass.getuser()))


def _key_of(url: str) -> tuple[str, str, str]:
    """The (host, port, user) of ``url``, read from its password-free form."""
    parsed = make_url(public_url(url))
    return _server_key(parsed.host, parsed.port, parsed.username)


def remember(url: str, password: str) -> None:
    """Keep ``password`` for the server and user of ``url``, in this process only."""
    key = _key_of(url)
    with _lock:
        _passwords[key] = password


def forget_all() -> None:
    """Drop every remembered password (tests; a front end logging out)."""
    with _lock:
        _passwords.clear()


def set_prompt(prompt: Prompt | None) -> None:
    """Install how to ask for a missing password (None: never ask, fail instead)."""
    global _prompt, _prompt_set
    _prompt, _prompt_set = prompt, True


def terminal_prompt(url: str) -> str | None:
    """Ask on the terminal, input hidden."""
    try:
        return getpass.getpass(f"password for {url}: ")
    except (EOFError, KeyboardInterrupt):
        return None


def _current_prompt() -> Prompt | None:
    if _prompt_set:
        return _prompt
    interactive = sys.stdin is not None and sys.stdin.isatty()
    return terminal_prompt if interactive else None


def child_environment(url: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for a subprocess that opens the project at ``url``: ``base`` (this
    process's environment by default) plus ``PGPASSWORD`` when this process knows the
    password (the child is then given the URL without it)."""
    env = dict(os.environ if base is None else base)
    if "://" in url:
        key = _key_of(url)
        with _lock:
            password = _parts(url).password or _passwords.get(key)
        if password:
            env["PGPASSWORD"] = str(password)
    return env


# ---------------------------------------------------------------- engines


def split_password(url: str) -> tuple[str, str | None]:
    """(the URL without a password, the password it held or None)."""
    return public_url(url), _parts(url).password


def _wants_password(exc: Exception) -> bool:
    message = str(exc).lower()
    return "no password supplied" in message or "password authentication failed" in message


def server_engine(url: str, **engine_args: Any) -> Engine:
    """An engine for a server URL whose password never sits in the engine's URL: it is
    added to each new connection from the sources in the module docstring."""
    public, password = split_password(url)
    if password is not None:
        remember(url, password)
    parsed = make_url(public)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, **engine_args)
    except (ImportError, ArgumentError) as exc:
        raise LongtailError(f"cannot use database URL {public}: {scrub(str(exc))}") from exc
    _supply_passwords(engine, public)
    return engine


def _supply_passwords(engine: Engine, public: str) -> None:
    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        dbapi = dialect.loaded_dbapi
        key = _server_key(cparams.get("host"), cparams.get("port"), cparams.get("user"))
        with _lock:
            known = _passwords.get(key)
        if known is not None:
            cparams["password"] = known
        try:
            return dbapi.connect(*cargs, **cparams)
        except dbapi.OperationalError as exc:
            failure: Exception = exc
            prompt = _current_prompt()
            if not _wants_password(exc) or prompt is None:
                raise ConnectionFailed(f"cannot connect to {public}: {_reason(exc)}") from None
        for _ in range(PROMPT_ATTEMPTS):
            password = prompt(public)
            if password is None:
                raise ConnectionFailed(f"cannot connect to {public}: no password given")
            cparams["password"] = password
            try:
                connection = dbapi.connect(*cargs, **cparams)
            except dbapi.OperationalError as exc:
                failure = exc
                if not _wants_password(exc):
                    break
                continue
            with _lock:
                _passwords[key] = password
            return connection
        raise ConnectionFailed(f"cannot connect to {public}: {_reason(failure)}") from None


def _reason(exc: Exception) -> str:
    """The server's own words, on one line, without any password."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return scrub(" ".join(lines)) or type(exc).__name__
