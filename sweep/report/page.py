"""Report writers: sections of text, images, tables and code -> self-contained HTML, Markdown, CSV."""

from __future__ import annotations

import base64
import html
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["Code", "Image", "Page", "Section", "Table", "Text", "figure_png", "write_csv", "write_html",
           "write_markdown"]


@dataclass
class Text:
    text: str
    kind: str = "p"  # "p" or "note"


@dataclass
class Image:
    name: str  # file name beside report.md, e.g. history.png
    alt: str
    png: bytes


@dataclass
class Table:
    frame: pd.DataFrame


@dataclass
class Code:
    label: str
    text: str


Block = Text | Image | Table | Code


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Page:
    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)

    def images(self) -> list[Image]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Image)]


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """PNG bytes of a figure (Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;
padding:1em 2em;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.t,th.t{text-align:left}tr:nth-child(even){background:#fafafa}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
.note{color:#8a5a00;background:#fff8e6;padding:.4em .8em;border-left:3px solid #e0a800}
pre{background:#f6f8fa;padding:.6em;overflow:auto;font-size:12px}details{margin:.3em 0}summary{cursor:pointer}
.scroll{overflow-x:auto}nav{font-size:14px;margin:.6em 0}nav a{margin-right:1em;color:#0645ad}
"""


_QUANTITY = re.compile(r"^-?\d[\d.e+-]*( (%|pp|KiB|ms|s|min|h))?$")


def _numeric(value: object) -> bool:
    """A number, or a number with its unit (``98.61 %``, ``5.3 KiB``): right-aligned in a table."""
    if isinstance(value, str):
        return bool(_QUANTITY.match(value))
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _table_html(df: pd.DataFrame) -> str:
    numeric = [df[c].map(lambda v: _numeric(v) or _cell(v) in ("", "unused")).all() for c in df.columns]
    head = "".join(f'<th{"" if n else " class=t"}>{html.escape(str(c))}</th>'
                   for c, n in zip(df.columns, numeric, strict=True))
    rows = "".join("<tr>" + "".join(f'<td{"" if n else " class=t"}>{html.escape(_cell(v))}</td>'
                                    for v, n in zip(row, numeric, strict=False)) + "</tr>"
                   for row in df.itertuples(index=False, name=None))
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def _block_html(block: Block) -> str:
    if isinstance(block, Text):
        cls = ' class="note"' if block.kind == "note" else ""
        return f"<p{cls}>{html.escape(block.text)}</p>"
    if isinstance(block, Image):
        data = base64.b64encode(block.png).decode("ascii")
        return f'<img alt="{html.escape(block.alt, quote=True)}" src="data:image/png;base64,{data}">'
    if isinstance(block, Table):
        return _table_html(block.frame)
    return (f"<details><summary>{html.escape(block.label)}</summary>"
            f"<pre>{html.escape(block.text)}</pre></details>")


def write_html(page: Page, path: Path) -> Path:
    """One self-contained HTML file: inline CSS, images as data URIs, nothing fetched."""
    parts = [f"<h1>{html.escape(page.title)}</h1>", f'<p class="sub">{html.escape(page.subtitle)}</p>']
    links = "".join(f'<a href="#s{i}">{html.escape(sec.title)}</a>' for i, sec in enumerate(page.sections))
    parts.append(f"<nav>{links}</nav>")
    for i, section in enumerate(page.sections):
        parts.append(f'<h2 id="s{i}">{html.escape(section.title)}</h2>')
        parts.extend(_block_html(b) for b in section.blocks)
    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>{html.escape(page.title)}</title><style>{_CSS}</style></head>"
           f"<body>{''.join(parts)}</body></html>\n")
    path.write_text(doc, encoding="utf-8")
    return path


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table_md(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(_md_escape(str(c)) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(_md_escape(_cell(v)) for v in row) + " |"
            for row in df.itertuples(index=False, name=None)]
    return "\n".join([head, rule, *rows])


def write_markdown(page: Page, path: Path) -> Path:
    """``report.md`` with images written as PNG files beside it and referenced relatively."""
    out = [f"# {page.title}", "", page.subtitle, ""]
    for section in page.sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                out += [("> " if block.kind == "note" else "") + block.text, ""]
            elif isinstance(block, Image):
                (path.parent / block.name).write_bytes(block.png)
                out += [f"![{_md_escape(block.alt)}]({block.name})", ""]
            elif isinstance(block, Table):
                out += [_table_md(block.frame), ""]
            else:
                out += [f"**{block.label}**", "", "```json", block.text, "```", ""]
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """The trials table as CSV (one row per trial)."""
    df.to_csv(path, index=False)
    return path
