"""The boundary to libvlc: loading it, creating an instance, and calls that may hang.

- `load_vlc()` imports python-vlc late, so `player` imports on machines without libvlc
  and the error says which packages to install.
- `new_instance()` turns libvlc's silent `None` (an option it does not know) into an
  error naming the options, and keeps libvlc's plugins loaded for the life of the process
  (`_keep_plugins_loaded`).
- `ensure_xdg_runtime_dir()` gives libvlc the private runtime folder it expects.
- `call_with_timeout()` runs a blocking libvlc call (stop, snapshot) on a daemon thread
  and stops waiting after a deadline, so a wedged libvlc cannot hang the agent's
  shutdown. Never call libvlc from inside a libvlc event callback: it deadlocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from player.errors import VlcUnavailable

if TYPE_CHECKING:
    import vlc

log = logging.getLogger(__name__)

T = TypeVar("T")

INSTALL_HINT = "apt-get install libvlc5 vlc-plugin-base libvlc-bin"


def load_vlc() -> ModuleType:
    """The python-vlc module, with libvlc loaded."""
    try:
        import vlc
    except (ImportError, OSError, NotImplementedError, SystemExit) as exc:
        # python-vlc calls sys.exit() when PYTHON_VLC_LIB_PATH names no loadable library
        reason = (
            "PYTHON_VLC_LIB_PATH names no usable library" if isinstance(exc, SystemExit) else exc
        )
        raise VlcUnavailable(
            f"cannot load libvlc ({reason}): install it with `{INSTALL_HINT}`"
        ) from exc
    # Where no libvlc is found at all, python-vlc still imports, with a handle without libvlc.
    if not hasattr(getattr(vlc, "dll", None), "libvlc_new"):
        raise VlcUnavailable(
            f"cannot load libvlc (no libvlc found): install it with `{INSTALL_HINT}`"
        )
    return vlc


def libvlc_version(module: ModuleType) -> str:
    version = module.libvlc_get_version()
    return version.decode(errors="replace") if isinstance(version, bytes) else str(version)


# A libvlc instance that lives as long as the process; see `_keep_plugins_loaded`.
_plugin_keeper: vlc.Instance | None = None
_KEEPER_ARGS = ("--intf=dummy", "--quiet")


def _keep_plugins_loaded(module: ModuleType) -> None:
    """Hold one small libvlc instance for the rest of the process.

    libvlc unloads every plugin when its last instance is released and loads them again
    with the next. Loading libavcodec's plugin again, after other libraries have taken
    their share of the process's static TLS (the GL output's Mesa, for one), failed with
    "libgomp.so.1: cannot allocate memory in static TLS block": from then on no H.264
    video decoded, and each ended at once without a picture. With one instance always
    alive, a plugin is loaded once and stays (about 2 MiB).
    """
    global _plugin_keeper
    if _plugin_keeper is None:
        _plugin_keeper = module.Instance(list(_KEEPER_ARGS))


def new_instance(module: ModuleType, args: Sequence[str]) -> vlc.Instance:
    """A libvlc instance with `args`; raises `VlcUnavailable` when libvlc refuses them."""
    _keep_plugins_loaded(module)
    instance = module.Instance(list(args))
    if instance is None:
        raise VlcUnavailable(
            f"libvlc refused its options {' '.join(args)}: an option is unknown to this "
            "libvlc (check the video_output setting and any extra VLC arguments; "
            "`vlc --list` shows the modules installed)"
        )
    return instance


def _usable_runtime_dir(value: str | None) -> bool:
    if not value:
        return False
    try:
        info = os.stat(value)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and stat.S_IMODE(info.st_mode) & 0o077 == 0
    )


def ensure_xdg_runtime_dir(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Point XDG_RUNTIME_DIR at a private 0700 folder unless it already is one.

    Returns the folder created (the caller removes it when done), or None when the
    existing value was kept.
    """
    if _usable_runtime_dir(environ.get("XDG_RUNTIME_DIR")):
        return None
    created = Path(tempfile.mkdtemp(prefix="signage-agent-runtime-"))  # mode 0700
    log.debug("XDG_RUNTIME_DIR unset or unusable: using %s for libvlc", created)
    environ["XDG_RUNTIME_DIR"] = str(created)
    return created


def _succeed(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[T], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


async def call_with_timeout(call: Callable[[], T], timeout_s: float, what: str) -> T:
    """Run `call` on a daemon thread; raise TimeoutError if it is not done in `timeout_s`.

    A daemon thread rather than the loop's executor: a call that never returns must not
    keep the process from exiting.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def work() -> None:
        try:
            result = call()
        except BaseException as exc:
            outcome: tuple[Callable[..., None], Any] = (_fail, exc)
        else:
            outcome = (_succeed, result)
        # RuntimeError: the loop has closed, nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(outcome[0], future, outcome[1])

    threading.Thread(target=work, name=f"libvlc: {what}", daemon=True).start()
    async with asyncio.timeout(timeout_s):
        return await future


__all__ = [
    "INSTALL_HINT",
    "call_with_timeout",
    "ensure_xdg_runtime_dir",
    "libvlc_version",
    "load_vlc",
    "new_instance",
]
