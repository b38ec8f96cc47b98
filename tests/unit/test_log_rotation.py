"""The host's log is rotated when a host starts with it over the size limit."""

from __future__ import annotations

from pathlib import Path

from zeke.__main__ import _rotate


def _write(path: Path, size: int, mark: str) -> None:
    path.write_text(mark + "x" * (size - len(mark)))


def test_a_log_over_the_limit_moves_aside_and_the_oldest_is_dropped(tmp_path: Path) -> None:
    log = tmp_path / "zeke.log"
    _write(log, 200, "current")
    _write(tmp_path / "zeke.log.1", 50, "previous")
    _write(tmp_path / "zeke.log.2", 50, "oldest")

    _rotate(str(log), keep=2, limit=100)

    assert not log.exists()
    assert (tmp_path / "zeke.log.1").read_text().startswith("current")
    assert (tmp_path / "zeke.log.2").read_text().startswith("previous")
    assert not (tmp_path / "zeke.log.3").exists()


def test_a_log_under_the_limit_or_missing_is_left_alone(tmp_path: Path) -> None:
    log = tmp_path / "zeke.log"
    _rotate(str(log), limit=100)  # no log yet: nothing to do, no error
    assert list(tmp_path.iterdir()) == []

    _write(log, 100, "small")
    _rotate(str(log), limit=100)
    assert log.read_text().startswith("small")
    assert not (tmp_path / "zeke.log.1").exists()
