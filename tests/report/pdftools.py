"""Reading a PDF back the way a person would see it, with poppler's tools (Debian's
poppler-utils, installed by scripts/bootstrap): its text (`pdftotext -layout`; `-raw`
to read a wrapped table cell's lines together), its fonts (`pdffonts`), and its pages
as PNG (`pdftoppm`), kept in test-output/report/ for people to look at."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
OUTPUT: Final = ROOT / "test-output" / "report"


def text_of(pdf: bytes) -> str:
    """The PDF's text, laid out as on the page (a table's row on one line)."""
    return _pdftotext(pdf, "-layout")


def text_in_order(pdf: bytes) -> str:
    """The PDF's text in the order it was written (`pdftotext -raw`): the lines a table's
    cell wraps to one after the other, which the layout of `text_of` interleaves with
    the cells beside it."""
    return _pdftotext(pdf, "-raw")


def _pdftotext(pdf: bytes, mode: str) -> str:
    done = subprocess.run(
        ["pdftotext", mode, "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode("utf-8")


@dataclass(frozen=True)
class Font:
    name: str
    type: str
    embedded: bool
    unicode: bool


def fonts_of(pdf: bytes, tmp: Path) -> list[Font]:
    """The fonts `pdffonts` lists, with whether each is embedded and maps to Unicode."""
    path = tmp / "fonts.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, check=True, text=True, timeout=60
    )
    fonts = []
    for line in done.stdout.splitlines()[2:]:  # the header and its rule
        fields = line.split()
        # name, type (one to three words), encoding, emb, sub, uni, object id (two)
        emb, sub, uni = fields[-5:-2]
        assert sub in ("yes", "no"), line
        fonts.append(Font(fields[0], " ".join(fields[1:-6]), emb == "yes", uni == "yes"))
    return fonts


def pages_as_png(pdf: bytes, stem: str, resolution: int = 80) -> list[Path]:
    """Every page rendered to test-output/report/<stem>-<n>.png (earlier ones removed)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT.glob(f"{stem}-*.png"):
        old.unlink()
    source = OUTPUT / f"{stem}.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(resolution), str(source), str(OUTPUT / stem)],
        check=True,
        timeout=120,
    )
    return sorted(OUTPUT.glob(f"{stem}-*.png"))
