"""The memo rendered: Markdown from a Jinja2 template, HTML from it by markdown-it-py, a PDF from that
HTML by fpdf2, so the three cannot disagree."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from jinja2 import Environment, PackageLoader, StrictUndefined
from markdown_it import MarkdownIt

from .blocks import TITLE, Block


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("analysis", "templates"), undefined=StrictUndefined,
                      autoescape=False, keep_trailing_newline=True)  # Markdown out; markdown-it escapes the HTML
    env.filters["markdown_table"] = lambda frame: frame.to_markdown(index=False, disable_numparse=True)
    return env


def render_markdown(blocks: Sequence[Block]) -> str:
    """The memo as Markdown (``templates/memo.md.j2``); the HTML and the PDF are rendered from it."""
    return _templates().get_template("memo.md.j2").render(blocks=blocks)


def _body(markdown: str, image_attrs: Callable[[str], dict[str, str]]) -> str:
    """The Markdown as HTML (markdown-it-py, CommonMark with tables; raw HTML escaped), each image's
    attributes (its ``src`` is ``figures/NAME.png``) set to ``image_attrs`` of its ``src``."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")

    def image(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        for name, value in image_attrs(str(tokens[idx].attrGet("src"))).items():
            tokens[idx].attrSet(name, value)
        return str(self.image(tokens, idx, options, env))

    md.add_render_rule("image", image)
    return md.render(markdown)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def render_html(markdown: str, pngs: Mapping[str, bytes]) -> str:
    """A self-contained page (``templates/memo.html.j2``): the figures embedded as data URIs."""
    body = _body(markdown, lambda src: {"src": _data_uri(pngs[Path(src).stem])})
    return _templates().get_template("memo.html.j2").render(title=TITLE, body=_breakable_cells(body))


def _breakable_cells(body: str) -> str:
    """Table cells that may break after a '/', a '_' or a '.' before a letter (``<wbr>``): the sources table's
    dotted catalog paths and file names are single words a browser would not wrap, so the table would run
    off the page; numbers keep their decimal point."""
    def cell(match: re.Match[str]) -> str:
        parts = re.split(r"(<[^>]+>)", match[3])  # text and tags: break the text only
        text = "".join(p if p.startswith("<") else re.sub(r"([/_]|\.(?=[A-Za-z]))", r"\1<wbr>", p) for p in parts)
        return f"<{match[1]}{match[2] or ''}>{text}</{match[1]}>"

    return re.sub(r"<(td|th)(\s[^>]*)?>(.*?)</\1>", cell, body, flags=re.S)


def render_pdf(markdown: str, pngs: Mapping[str, bytes]) -> bytes:
    """The memo as an A4 landscape PDF (fpdf2's HTML renderer, in matplotlib's DejaVu Sans, which has every
    character the memo uses), each figure as wide as the text, or less if it would be taller than the page."""
    from fpdf import FPDF
    from PIL import Image

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf = FPDF(orientation="landscape", format="A4")
    for style, file in (("", "DejaVuSans"), ("B", "DejaVuSans-Bold"), ("I", "DejaVuSans-Oblique"),
                        ("BI", "DejaVuSans-BoldOblique")):
        pdf.add_font("DejaVu", style, fonts / f"{file}.ttf")
    pdf.set_font("DejaVu", size=9)
    pdf.add_page()
    points = 72 / 25.4  # fpdf2 reads an <img> width in points; the page is in mm
    page_width, page_height = pdf.epw * points, 0.85 * pdf.eph * points  # room for the caption below

    def attrs(src: str) -> dict[str, str]:
        png = pngs[Path(src).stem]
        w, h = Image.open(io.BytesIO(png)).size
        return {"src": _data_uri(png), "width": f"{min(page_width, page_height * w / h):.0f}"}

    pdf.write_html(_plain_cells(_body(markdown, attrs)), font_family="DejaVu")
    return bytes(pdf.output())


def _plain_cells(body: str) -> str:
    """Table cells as plain text: fpdf2's HTML renderer takes no markup inside a cell (a `code` span in a
    failed run's error message would stop it), and the cells' markup is only emphasis."""
    def plain(match: re.Match[str]) -> str:
        return f"<{match[1]}{match[2] or ''}>{re.sub(r'<[^>]+>', '', match[3])}</{match[1]}>"

    return re.sub(r"<(td|th)(\s[^>]*)?>(.*?)</\1>", plain, body, flags=re.S)
