"""Finding java/mvn, cache locations and the install marker, without running Maven."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from overlay.infra import kafka_install
from overlay.infra.errors import InstallError, ToolMissingError
from overlay.infra.kafka_install import (
    MARKER_NAME,
    default_cache_dir,
    default_kafka_version,
    find_java,
    find_mvn,
    install_fingerprint,
    install_kafka,
    is_installed,
    mvn_command,
    parse_java_major,
)
from overlay.infra.paths import find_repo_root

REPO = Path(__file__).resolve().parents[3]
POM = REPO / "deploy" / "kafka" / "pom.xml"


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_402"', 8),
        ("something else", None),
    ],
)
def test_parse_java_major(output: str, major: int | None) -> None:
    assert parse_java_major(output) == major


def test_version_and_cache_dir_follow_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OVERLAY_KAFKA_VERSION", raising=False)
    monkeypatch.delenv("OVERLAY_KAFKA_CACHE", raising=False)
    assert default_kafka_version() == "4.1.1"
    assert default_cache_dir("4.1.1") == REPO / ".cache" / "kafka" / "4.1.1"
    monkeypatch.setenv("OVERLAY_KAFKA_VERSION", "4.0.0")
    monkeypatch.setenv("OVERLAY_KAFKA_CACHE", str(tmp_path))
    assert default_kafka_version() == "4.0.0"
    assert default_cache_dir("4.0.0") == tmp_path / "4.0.0"


def test_repo_root_is_found_from_the_package() -> None:
    assert find_repo_root() == REPO
    assert POM.is_file()


def test_missing_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with pytest.raises(ToolMissingError, match="openjdk-17-jre-headless"):
        find_java()


def test_java_home_wins_over_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert find_java() == str(java)


def test_missing_mvn_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with pytest.raises(ToolMissingError, match="apt-get install maven"):
        find_mvn()


def test_mvn_command_is_quiet_batch_and_versioned(tmp_path: Path) -> None:
    cmd = mvn_command("mvn", POM, "4.1.1", tmp_path / "out")
    assert cmd[:3] == ["mvn", "-q", "-B"]
    assert "-Dkafka.version=4.1.1" in cmd and "-o" not in cmd
    assert f"-DoutputDirectory={tmp_path / 'out'}" in cmd
    assert "dependency:copy-dependencies" in cmd and "-DincludeScope=runtime" in cmd
    assert "-o" in mvn_command("mvn", POM, "4.1.1", tmp_path, offline=True)


def test_fingerprint_tracks_pom_and_version(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>")
    first = install_fingerprint(pom, "4.1.1")
    assert install_fingerprint(pom, "4.1.1") == first
    assert install_fingerprint(pom, "4.0.0") != first
    pom.write_text("<project></project>")
    assert install_fingerprint(pom, "4.1.1") != first


async def test_installed_cache_skips_maven(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / MARKER_NAME).write_text(install_fingerprint(POM, "4.1.1"))
    assert is_installed(libs, install_fingerprint(POM, "4.1.1"))

    def no_mvn() -> str:
        raise AssertionError("mvn must not be needed")

    monkeypatch.setattr(kafka_install, "find_mvn", no_mvn)
    assert await install_kafka(tmp_path, "4.1.1", POM) == libs


async def test_failed_fetch_reports_maven_output_and_leaves_no_marker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A stand-in for mvn (a tiny shell script): the one process these unit tests start.
    fake = tmp_path / "mvn"
    fake.write_text("#!/bin/sh\necho 'Could not resolve org.apache.kafka:kafka_2.13:9.9.9'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(kafka_install, "find_mvn", lambda: str(fake))
    cache = tmp_path / "cache"
    with pytest.raises(InstallError, match=r"(?s)exit 1.*Could not resolve.*9\.9\.9"):
        await install_kafka(cache, "9.9.9", POM)
    assert not (cache / "libs").exists()
    assert [p.name for p in cache.iterdir()] == [".install.lock"]
    assert os.access(POM, os.R_OK)
