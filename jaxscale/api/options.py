"""Where the data's columns are: :class:`Columns`, the one value every public call and helper takes.

``columns=Columns(inputs={"N": "params", "D": "tokens"}, y="loss", compute=None)`` (or the same as a
dict) says which column holds each input of the law, the target and, optionally, the training compute
from which the tokens input is derived (:math:`D = C / (6N)`). An input without an entry is read from
the column of its own name (``N``, ``D``, ``U``, ``x`` ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

__all__ = ["Columns", "as_columns"]


@dataclass(frozen=True, kw_only=True)
class Columns:
    """Columns of the data: law input -> column, the target ``y`` and an optional ``compute`` column.

    Parameters
    ----------
    inputs : mapping
        Law input name -> column name, e.g. ``{"N": "Model Size"}``; inputs not listed are read from
        the column of their own name.
    y : str
        Target column (the loss, or the metric of a raw-target law). Default ``"loss"``.
    compute : str, optional
        Training compute column (FLOP); the tokens input is then derived as ``D = C / (6 N)``.

    Examples
    --------
    >>> Columns(inputs={"N": "Model Size"}, compute="Training FLOP").column("N")
    'Model Size'
    """

    inputs: Mapping[str, str] = field(default_factory=dict)
    y: str = "loss"
    compute: str | None = None

    def __post_init__(self):
        if not isinstance(self.inputs, Mapping):
            raise ValueError(f"Columns(inputs=...) must map law input names to column names, got {self.inputs!r}")
        bad = {k: v for k, v in self.inputs.items() if not isinstance(k, str) or not isinstance(v, str)}
        if bad:
            raise ValueError(f"Columns(inputs=...): names and columns must be strings, got {bad!r}")
        if not isinstance(self.y, str):
            raise ValueError(f"Columns(y=...) must be a column name, got {self.y!r}")
        if self.compute is not None and not isinstance(self.compute, str):
            raise ValueError(f"c must be a column name (training compute in FLOP), got {self.compute!r}")
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.inputs.items())), self.y, self.compute))

    def __eq__(self, other) -> bool:
        return isinstance(other, Columns) and (dict(self.inputs), self.y, self.compute) == (
            dict(other.inputs), other.y, other.compute)

    def __repr__(self) -> str:
        return f"Columns(inputs={dict(self.inputs)!r}, y={self.y!r}, compute={self.compute!r})"

    def column(self, name: str) -> str:
        """The column of law input ``name`` (its own name unless mapped)."""
        return self.inputs.get(name, name)

    def replace(self, **changes) -> "Columns":
        """A copy with some fields changed (``inputs`` merged into the present mapping)."""
        inputs = {**self.inputs, **changes.pop("inputs", {})}
        return Columns(inputs=inputs, **{"y": self.y, "compute": self.compute, **changes})

    @classmethod
    def from_keywords(cls, n: str = "N", d: str = "D", y: str = "loss", x: str = "x",
                      columns: Mapping[str, str] | None = None, c: str | None = None) -> "Columns":
        """The columns the former keywords ``n=, d=, x=, y=, c=, columns=`` named (``columns`` wins; a
        :class:`Columns` given as ``columns`` is returned as it is)."""
        if isinstance(columns, Columns):
            return columns
        defaults = {k: v for k, v in (("N", n), ("D", d), ("x", x)) if v != k}
        return cls(inputs={**defaults, **dict(columns or {})}, y=y, compute=c)


def as_columns(columns) -> Columns:
    """``None`` -> default :class:`Columns`; a dict -> ``Columns(**dict)`` when it names fields
    (``inputs``/``y``/``compute``), else the law-input mapping; a :class:`Columns` as is."""
    if columns is None:
        return Columns()
    if isinstance(columns, Columns):
        return columns
    if isinstance(columns, Mapping):
        if set(columns) & {"inputs", "y", "compute"}:
            unknown = set(columns) - {"inputs", "y", "compute"}
            if unknown:
                raise ValueError(f"columns={dict(columns)!r}: mixes Columns fields (inputs, y, compute) with "
                                 f"input names {sorted(unknown)}; put input names under 'inputs'")
            return Columns(**columns)
        return Columns(inputs=columns)
    raise ValueError(f"columns must be a jaxscale.Columns or a dict, got {type(columns).__name__}")
