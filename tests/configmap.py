"""Bundles laid out as the kubelet lays out a ConfigMap volume, for reload tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class ConfigMapVolume:
    """`..<version>/` holds the files, `..data` points at it, each file is `name -> ..data/name`.
    `publish()` swaps versions atomically, as the kubelet does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.version = 0

    def publish(self, files: dict[str, str]) -> None:
        self.version += 1
        target = self.root / f"..2026_11_25_{self.version:04d}"
        target.mkdir()
        for name, text in files.items():
            (target / name).write_text(text)
        previous = (self.root / "..data").resolve() if (self.root / "..data").exists() else None
        link = self.root / "..data_tmp"
        link.symlink_to(target.name)
        os.replace(link, self.root / "..data")
        for entry in self.root.iterdir():
            stale = entry.name not in files and not entry.name.startswith("..")
            if entry.is_symlink() and stale:
                entry.unlink()
        for name in files:
            if not (self.root / name).is_symlink():
                (self.root / name).symlink_to(f"..data/{name}")
        if previous is not None and previous != target.resolve():
            shutil.rmtree(previous)
