"""The repository as a reader finds it: no merge left half done in any tracked text file, and
every section of the README that other documents link to still there."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)


def tracked_text_files():
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    for name in names:
        path = ROOT / name
        if path.suffix in {".md", ".py", ".yaml", ".yml", ".toml", ".txt", ".js", ".html"}:
            yield path


def test_no_file_holds_a_merge_conflict_marker():
    found = [
        str(p.relative_to(ROOT))
        for p in tracked_text_files()
        if p.is_file() and MARKER.search(p.read_text("utf-8", errors="replace"))
    ]
    assert not found, found


def test_the_readme_links_only_to_its_own_sections():
    readme = (ROOT / "README.md").read_text()
    anchors = {
        re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        for title in re.findall(r"^#+ (.+)$", readme, re.M)
    }
    links = set(re.findall(r"\]\(#([^)]+)\)", readme))
    assert links <= anchors, links - anchors
