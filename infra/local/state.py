"""The local stack's state folder (``.oms`` by default, ``OMS_STATE_DIR``) and its ``local.json``.

``local.json`` is how everything outside the stack's process finds it: the URLs, the region, the
API keys and webhook secrets generated at start-up, and a summary of the demo data. The DLQ and
key tools read it when pointed at the ``local`` stage; the e2e tests read it from a temporary
state folder. Only this module knows the file's name and location.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_STATE_DIR",
    "ENV_STATE_DIR",
    "OUTBOX_NAME",
    "read_local_config",
    "state_dir",
    "write_local_config",
]

ENV_STATE_DIR = "OMS_STATE_DIR"
DEFAULT_STATE_DIR = ".oms"
CONFIG_NAME = "local.json"
OUTBOX_NAME = "outbox"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The state folder: ``OMS_STATE_DIR``, or ``.oms`` under the current directory."""
    env = os.environ if env is None else env
    return Path(env.get(ENV_STATE_DIR) or DEFAULT_STATE_DIR)


def write_local_config(folder: Path, config: Mapping[str, Any]) -> Path:
    """Write ``local.json`` atomically and readable by its owner only (it holds API keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_NAME
    partial = folder / f".{CONFIG_NAME}.partial"
    # A reader (a tool, a test waiting for the stack) never sees half a file: write, then rename.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(config, out, indent=2)
        out.write("\n")
    os.replace(partial, path)
    return path


def read_local_config(folder: Path | None = None) -> dict[str, Any]:
    """The running (or last) local stack's ``local.json``; FileNotFoundError says how to get one."""
    path = (folder or state_dir()) / CONFIG_NAME
    try:
        with path.open(encoding="utf-8") as handle:
            config: dict[str, Any] = json.load(handle)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} not found: start the local stack first (make run), or set {ENV_STATE_DIR}"
        ) from None
    return config
