"""Regenerate the SVG screenshots in screenshots/ (the README shows them).

They are the same scenes as the snapshot tests (tests/tui/snapshot_apps.py ``SCENES``: main,
details, cache, help, error, invalid, tags, tag, and for issue 20 ``marks`` (Details with
marks and a folded collection), ``picked`` (sessions marked for D, E, F) and ``download``
(the panel mid-download)): the demo database
(seed 0) on a free port with the shown URL and folders pinned, a frozen clock, at 80x24 and
160x48, and a few at 200x50 (a large terminal). Run from the repository root:

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tui.snapshot_apps import SCENES, SIZES, build_app, start_server  # noqa: E402

OUT = ROOT / "screenshots"
#: only for the README: a large terminal, for the scenes whose layout changes with the room
LARGE = {"large": (200, 50)}
LARGE_SCENES = ("main", "subject")


async def shoot(server: object, scene: str, size: str, theme: str | None = None) -> Path:
    app = build_app(server, f"shot-{scene}-{size}", theme=theme)
    async with app.run_test(size={**SIZES, **LARGE}[size]) as pilot:
        await SCENES[scene](pilot)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        path = OUT / (f"{scene}-{size}-{theme}.svg" if theme else f"{scene}-{size}.svg")
        app.save_screenshot(path.name, str(OUT))
    return path


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    server = start_server()
    try:
        for scene in SCENES:
            for size in SIZES:
                print(await shoot(server, scene, size))
        for scene in LARGE_SCENES:
            print(await shoot(server, scene, "large"))
        print(await shoot(server, "details", "narrow", theme="ansi-dark"))
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
