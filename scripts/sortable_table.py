"""HTML tables that sort by a column when its header is clicked (again: the other way), with no network.

Each cell that reads as a number (a mean, a count, a weight: its leading number) carries it in ``data-v``; the
inline script sorts rows numerically where both cells have one, numbers before text, and blank or ``–`` cells
last whichever the direction. Ties keep their order, so a second click on another column sorts within the first.
"""

from __future__ import annotations

import html
import re

# a leading number followed by the end, a space or "(": "0.812 ± 0.010", "3 (n=1)"; never a hash such as "3e4f12ab"
NUMBER = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?=$|[\s(])")

SCRIPT = """(function () {
  function blank(text) { return text === "" || text === "\\u2013" || text === "-"; }
  function order(a, b, dir) {
    var va = a.getAttribute("data-v"), vb = b.getAttribute("data-v");
    if (va !== null && vb !== null) { return dir * (parseFloat(va) - parseFloat(vb)); }
    var ta = a.textContent.trim(), tb = b.textContent.trim();
    if (blank(ta) || blank(tb)) { return (blank(ta) ? 1 : 0) - (blank(tb) ? 1 : 0); }
    if (va !== null) { return -1; }
    if (vb !== null) { return 1; }
    return dir * ta.localeCompare(tb);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) { return order(a.cells[col], b.cells[col], dir); });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();"""

STYLE = (
    "table.sortable th{cursor:pointer}"
    "table.sortable th[aria-sort=ascending]::after{content:' \\25B2'}"
    "table.sortable th[aria-sort=descending]::after{content:' \\25BC'}"
)


def sort_value(text: str) -> str | None:
    """The number a cell sorts by, as written (None for text)."""
    found = NUMBER.match(text)
    return found.group(1) if found else None


def cell(text: str, css: str = "") -> str:
    """A ``<td>`` of ``text`` (escaped) with its sort value and, given, a class."""
    value = sort_value(text)
    attrs = (f" class='{css}'" if css else "") + (f" data-v='{value}'" if value is not None else "")
    return f"<td{attrs}>{html.escape(text)}</td>"


def table(head: list[str], rows: list[str]) -> str:
    """A sortable table: the header cells' names and the body's ``<tr>`` rows."""
    names = "".join(f"<th title='click to sort'>{html.escape(h)}</th>" for h in head)
    return f"<table class='sortable'><thead><tr>{names}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
