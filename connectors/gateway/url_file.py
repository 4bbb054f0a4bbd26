"""The file where a running gateway writes the URL it bound, so callers find a port-0 gateway."""

from __future__ import annotations

from pathlib import Path


def write_url(url_file: Path, url: str) -> None:
    url_file.parent.mkdir(parents=True, exist_ok=True)
    url_file.write_text(url + "\n")


def read_url(url_file: Path) -> str | None:
    """The URL a running gateway wrote to its ``url_file`` (None before it has bound its port)."""
    try:
        return url_file.read_text().strip() or None
    except FileNotFoundError:
        return None
