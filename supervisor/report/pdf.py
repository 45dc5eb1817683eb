"""HTML to PDF with WeasyPrint, and the two documents the service prints: the monthly
report and an assessment's ranking. CPU-bound and blocking (a report takes about a second):
the web service calls these in a worker thread, never on its event loop.

WeasyPrint finds the fonts through fontconfig and embeds the glyphs used as a subset
(Noto Sans/Serif CJK, CFF outlines inside `.ttc` collections: `pdffonts` lists them as
embedded "CID Type 0C"); `lang="zh-CN"` on the document makes it pick the simplified
Chinese forms. It fetches nothing but the data URIs the HTML carries (the charts): a text
from a center that looked like a link or a style sheet could not make it read a file or
call a server.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Final

from supervisor.assessment.run import Assessment
from supervisor.report import charts
from supervisor.report.model import Report
from supervisor.report.render import ranking_html, report_html

#: One PDF at a time per process: each takes a core for a second or so, and the machine
#: that serves the wall must not spend every core on reports.
_ONE_AT_A_TIME: Final = threading.Lock()
MEDIA_TYPE: Final = "application/pdf"


def html_to_pdf(html: str) -> bytes:
    """An HTML document (its images as data URIs) as PDF bytes."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=("data",), fail_on_errors=True)
    with _ONE_AT_A_TIME:
        document = HTML(string=html, base_url=None, url_fetcher=fetcher)
        return bytes(document.write_pdf())


def report_pdf(report: Report) -> bytes:
    """The monthly report as a PDF: its charts drawn, its pages laid out. Raises
    `charts.NoChineseFont` when no font holds Chinese (the text would show as boxes)."""
    charts.chinese_family()  # refuse before drawing anything
    drawn = {"trend": charts.trend_svg(report.trend), "rules": charts.rules_svg(report.rules)}
    return html_to_pdf(report_html(report, drawn))


def ranking_pdf(result: Assessment, generated_at: datetime) -> bytes:
    """An assessment's ranking as a PDF of its own (landscape: one column per indicator).
    Raises `charts.NoChineseFont` when no font holds Chinese."""
    charts.chinese_family()
    return html_to_pdf(ranking_html(result, generated_at))
