"""Fetching the Kafka broker's jars with Maven, once per version, into a local cache.

Kafka ships no Python wheel and we have no Docker; Maven Central has every jar the broker
needs, so ``mvn dependency:copy-dependencies`` on ``deploy/kafka/pom.xml`` gives a runnable
broker classpath in seconds. A marker file written after a complete copy (holding a hash of
the pom and the version) makes later calls free and re-fetches when the pom changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
from pathlib import Path

from overlay.infra.errors import InstallError, ToolMissingError
from overlay.infra.paths import default_cache_root
from overlay.logging import get_logger

log = get_logger(__name__)

DEFAULT_KAFKA_VERSION = "4.1.1"
KAFKA_VERSION_ENV = "OVERLAY_KAFKA_VERSION"
KAFKA_CACHE_ENV = "OVERLAY_KAFKA_CACHE"
MAVEN_OFFLINE_ENV = "OVERLAY_MAVEN_OFFLINE"
MARKER_NAME = ".overlay-installed"
MIN_JAVA = 17  # Kafka 4.x brokers need Java 17.

_JAVA_HINT = (
    "install a Java 17+ runtime (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME"
)
_MVN_HINT = "install Apache Maven (Debian/Ubuntu: `apt-get install maven`)"


def default_kafka_version() -> str:
    return os.environ.get(KAFKA_VERSION_ENV) or DEFAULT_KAFKA_VERSION


def default_cache_dir(version: str) -> Path:
    """``$OVERLAY_KAFKA_CACHE/<version>``, else ``<repo>/.cache/kafka/<version>``."""
    root = os.environ.get(KAFKA_CACHE_ENV)
    base = Path(root).expanduser() if root else default_cache_root() / "kafka"
    return base / version


def find_java() -> str:
    """``$JAVA_HOME/bin/java`` if set, else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise ToolMissingError(f"`java` not found, needed to run the Kafka broker: {_JAVA_HINT}")
    return found


def find_mvn() -> str:
    found = shutil.which("mvn")
    if found is None:
        raise ToolMissingError(f"`mvn` not found, needed once to fetch the Kafka broker jars: {_MVN_HINT}")
    return found


def parse_java_major(version_output: str) -> int | None:
    """The major version in ``java -version`` output (``1.8.0_x`` → 8, ``17.0.15`` → 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


async def check_java(java: str) -> None:
    """Fail early, and clearly, on a Java too old for a Kafka 4 broker."""
    proc = await asyncio.create_subprocess_exec(
        java, "-version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    major = parse_java_major(out.decode("utf-8", "replace"))
    if major is not None and major < MIN_JAVA:
        raise ToolMissingError(f"{java} is Java {major}; Kafka 4 needs Java {MIN_JAVA}+: {_JAVA_HINT}")


def install_fingerprint(pom: Path, version: str) -> str:
    """What the marker holds: a change of pom or version means a new fetch."""
    digest = hashlib.sha256(pom.read_bytes() + b"\0" + version.encode()).hexdigest()
    return f"kafka {version} pom-sha256 {digest}\n"


def is_installed(libs: Path, fingerprint: str) -> bool:
    try:
        return (libs / MARKER_NAME).read_text() == fingerprint
    except OSError:
        return False


def mvn_command(mvn: str, pom: Path, version: str, out_dir: Path, offline: bool = False) -> list[str]:
    cmd = [mvn, "-q", "-B", "-f", str(pom), f"-Dkafka.version={version}"]
    if offline:
        cmd.append("-o")
    cmd += ["dependency:copy-dependencies", f"-DoutputDirectory={out_dir}", "-DincludeScope=runtime"]
    return cmd


async def _lock(path: Path) -> int:
    """An exclusive file lock so that concurrent test sessions fetch once (flock in a thread)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


async def install_kafka(cache_dir: Path, version: str, pom: Path) -> Path:
    """Make ``cache_dir/libs`` hold the broker's jars and return it; runs mvn only when needed."""
    libs = cache_dir / "libs"
    fingerprint = install_fingerprint(pom, version)
    if is_installed(libs, fingerprint):
        return libs
    mvn = find_mvn()
    fd = await _lock(cache_dir / ".install.lock")
    try:
        if is_installed(libs, fingerprint):  # another process finished while we waited
            return libs
        staging = cache_dir / f"libs.partial-{os.getpid()}"
        await asyncio.to_thread(shutil.rmtree, staging, True)
        offline = os.environ.get(MAVEN_OFFLINE_ENV, "") not in ("", "0", "false")
        cmd = mvn_command(mvn, pom, version, staging, offline=offline)
        log.info("infra.kafka.install", version=version, libs=str(libs))
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await proc.communicate()
        jars = list(staging.glob("*.jar")) if staging.is_dir() else []
        if proc.returncode != 0 or not any(j.name.startswith("kafka_") for j in jars):
            await asyncio.to_thread(shutil.rmtree, staging, True)
            text = out.decode("utf-8", "replace").replace("\x1b[0m", "").strip()[-3000:]
            raise InstallError(
                f"fetching Kafka {version} with Maven failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                f"{text or '(no output)'}\n"
                f"Check access to Maven Central (or ~/.m2/settings.xml mirrors) and that {version} exists."
            )
        (staging / MARKER_NAME).write_text(fingerprint)
        await asyncio.to_thread(shutil.rmtree, libs, True)
        staging.rename(libs)
        return libs
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
