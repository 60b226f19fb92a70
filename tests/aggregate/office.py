"""LibreOffice and poppler for the tests that look at a file as a reader sees it: convert an
office file to PDF headless (a private profile, so parallel runs do not share one) and read the
PDF's words with their boxes (``pdftotext -bbox``). Tests skip, saying what to install, when the
binaries are missing."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">')
_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)


@dataclass(frozen=True, slots=True)
class Word:
    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass(frozen=True, slots=True)
class Pdf:
    pages: list[tuple[float, float]]
    """(width, height) in points, per page."""
    words: list[Word]

    def text(self, page: int) -> str:
        return " ".join(w.text for w in self.words if w.page == page)


def need(binary: str, package: str) -> str:
    found = shutil.which(binary)
    if found is None:
        pytest.skip(f"{binary} is not installed (apt-get install {package}; .ci/run does this)")
    return found


def to_pdf(document: Path, work: Path) -> Path:
    """``document`` converted by LibreOffice headless, into ``work``."""
    soffice = need("soffice", "libreoffice-impress libreoffice-writer libreoffice-calc")
    profile = work / "lo-profile"
    subprocess.run(
        [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
         "--convert-to", "pdf", "--outdir", str(work), str(document)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    pdf = work / f"{document.stem}.pdf"
    assert pdf.is_file(), f"LibreOffice wrote no PDF for {document.name}"
    return pdf


def read_pdf(pdf: Path) -> Pdf:
    """The PDF's pages and words with their boxes (points, origin top left)."""
    tool = need("pdftotext", "poppler-utils")
    html = subprocess.run(
        [tool, "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    pages, words = [], []
    for n, chunk in enumerate(html.split("<page ")[1:]):
        size = _PAGE.match("<page " + chunk)
        assert size is not None
        pages.append((float(size.group(1)), float(size.group(2))))
        for m in _WORD.finditer(chunk):
            x0, y0, x1, y1 = (float(m.group(i)) for i in range(1, 5))
            words.append(Word(n, x0, y0, x1, y1, m.group(5)))
    return Pdf(pages, words)
