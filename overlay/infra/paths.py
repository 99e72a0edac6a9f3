"""Where the repository's deploy files and caches are.

The canonical Kafka pom and log4j2 config live once, in ``deploy/kafka/`` of the repository,
so nothing is generated or copied into the package that could drift from them.
``OVERLAY_KAFKA_DEPLOY_DIR`` points elsewhere (e.g. for a non-editable install).
"""

from __future__ import annotations

import os
from pathlib import Path

from overlay.infra.errors import InfraError

DEPLOY_DIR_ENV = "OVERLAY_KAFKA_DEPLOY_DIR"
_MARKER = Path("deploy") / "kafka" / "pom.xml"


def find_repo_root(start: Path | None = None) -> Path | None:
    """The nearest ancestor of ``start`` (default: this module, then the cwd) with deploy/kafka/pom.xml."""
    starts = [start] if start is not None else [Path(__file__).resolve().parent, Path.cwd()]
    for origin in starts:
        for candidate in (origin, *origin.parents):
            if (candidate / _MARKER).is_file():
                return candidate
    return None


def kafka_deploy_dir() -> Path:
    """The folder holding ``pom.xml`` and ``log4j2.yaml`` for the development broker."""
    override = os.environ.get(DEPLOY_DIR_ENV)
    if override:
        path = Path(override).expanduser()
        if not (path / "pom.xml").is_file():
            raise InfraError(f"{DEPLOY_DIR_ENV}={override} has no pom.xml")
        return path
    root = find_repo_root()
    if root is None:
        raise InfraError(
            "cannot find deploy/kafka/pom.xml above the overlay package or the current directory; "
            f"run from a checkout of the repository or set {DEPLOY_DIR_ENV}"
        )
    return root / "deploy" / "kafka"


def default_cache_root() -> Path:
    """``<repo>/.cache`` when in a checkout (git-ignored), else ``~/.cache/overlay``."""
    root = find_repo_root()
    return root / ".cache" if root is not None else Path.home() / ".cache" / "overlay"
