"""What every result's ``summary()`` returns: a :class:`Summary`, one type for fits, bootstraps and groups.

Like statsmodels' ``Summary``, the table and its text are separate: a :class:`Summary` IS the table (a
pandas DataFrame: one row per parameter or group, ``.loc``, ``.attrs``, ``.to_csv`` all work) and carries the
text around it (``title`` lines above, ``notes`` under it: warnings, what the intervals are). ``print(summary)``
and the notebook repr show the whole text; ``summary.text`` is that text; ``"phrase" in summary`` looks for a
column first, then for the phrase in the text.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["Summary"]


class Summary(pd.DataFrame):
    """A result's table (a DataFrame) with its ``title`` and ``notes`` (lists of lines) and its ``text``."""

    _metadata = ["title", "notes", "body"]

    @property
    def _constructor(self):
        return pd.DataFrame  # a slice or a computed frame is a plain table

    @classmethod
    def of(cls, table: pd.DataFrame, title: list[str], notes: list[str], body: str | None = None) -> "Summary":
        """Wrap ``table``; ``body`` is the table's text (default ``table.to_string()``)."""
        out = cls(table)
        out.attrs.update(table.attrs)
        out.title, out.notes, out.body = list(title), [n for n in notes if n], body
        return out

    @property
    def text(self) -> str:
        """Title, table and notes as one printable text."""
        body = self.body if getattr(self, "body", None) is not None else pd.DataFrame(self).to_string()
        parts = ["\n".join(self.title), body] + (["\n".join(self.notes)] if self.notes else [])
        return "\n\n".join(p for p in parts if p)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        import html

        title = "<br>".join(html.escape(t) for t in self.title)
        notes = "<br>".join(html.escape(n) for n in self.notes)
        return f"<p>{title}</p>{pd.DataFrame(self).to_html()}" + (f"<p>{notes}</p>" if notes else "")

    def __contains__(self, item) -> bool:
        return super().__contains__(item) or (isinstance(item, str) and item in self.text)
