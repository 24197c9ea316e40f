"""Filters: which indexed images a query may return, turned into catalogue ids by SQL so that the
vector store searches only those (``k`` results come back whenever ``k`` images match).

    >>> f = Filters(under="~/Pictures/2021", since="2021-07", orientation="landscape", min_size="1920x1080")
    >>> f.describe()                                                     # doctest: +SKIP
    'under /home/me/Pictures/2021, since 2021-07, landscape, at least 1920x1080'

Dates: ``since``/``until`` name a period (``2021``, ``2021-07``, ``2021-07-04``, ``2021-07-04 18:30``)
and both ends are inclusive: ``until="2021-07"`` keeps all of July. An image's date is its EXIF
capture date, else its file modification time, both in local time (EXIF dates carry no time zone).
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from ..config import ORIENTATIONS
from ..errors import QueryError

# Width and height within 5 % of each other count as square: 1080x1080 posts, 4000x3900 scans.
SQUARE_TOLERANCE_PERCENT = 105

DateLike = str | date | datetime
_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?)?)?$")
_SIZE = re.compile(r"^\s*(\d+)\s*(?:[x×*]\s*(\d+))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Filters:
    """Conditions every result must meet; all given ones apply (``under`` folders: any of them).

    ``under``: folders (or one folder); ``since``/``until``: periods, inclusive (see the module doc);
    ``orientation``: ``landscape``, ``portrait`` or ``square``; ``min_size``: ``"WxH"``, ``"N"``
    (both sides) or ``(W, H)``: width at least W and height at least H, as the photo is shown.
    ``tags``: photos that carry every one of these tags; ``not_tags``: photos that carry none of them
    (see :mod:`pixseek.tags`; an unknown tag raises ``QueryError`` when the filter runs).
    Bad values raise :class:`~pixseek.errors.QueryError` when the object is made.
    """

    under: tuple[str, ...] | str | os.PathLike = ()
    since: DateLike | None = None
    until: DateLike | None = None
    orientation: str | None = None
    min_size: str | tuple[int, int] | None = None
    tags: tuple[str, ...] | str = ()
    not_tags: tuple[str, ...] | str = ()
    _start: datetime | None = field(default=None, init=False, repr=False, compare=False)
    _end: datetime | None = field(default=None, init=False, repr=False, compare=False)
    _min: tuple[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        under = (self.under,) if isinstance(self.under, (str, os.PathLike)) else tuple(self.under or ())
        folders = tuple(os.path.abspath(os.path.expanduser(os.fspath(u))) for u in under if os.fspath(u).strip())
        object.__setattr__(self, "under", folders)
        for name in ("tags", "not_tags"):
            value = getattr(self, name)
            names = (value,) if isinstance(value, str) else tuple(value or ())
            object.__setattr__(self, name, tuple(dict.fromkeys(str(t).strip() for t in names if str(t).strip())))
        if self.orientation is not None and self.orientation not in ORIENTATIONS:
            raise QueryError(f"unknown orientation {self.orientation!r}: use {', '.join(ORIENTATIONS)}")
        start = period(self.since, "since")[0] if self.since is not None else None
        end = period(self.until, "until")[1] if self.until is not None else None
        if start is not None and end is not None and start >= end:
            raise QueryError(f"{_text(self.since)} is after the end date {_text(self.until)}: nothing can match",
                             field="since")
        object.__setattr__(self, "_start", start)
        object.__setattr__(self, "_end", end)
        object.__setattr__(self, "_min", parse_size(self.min_size) if self.min_size is not None else None)

    @property
    def active(self) -> bool:
        """True when at least one condition is set."""
        return bool(self.under) or self._start is not None or self._end is not None \
            or self.orientation is not None or self._min is not None or bool(self.tags) or bool(self.not_tags)

    def describe(self) -> str:
        """The conditions in a few words, for messages."""
        parts = [f"under {', '.join(self.under)}"] if self.under else []
        if self.since is not None:
            parts.append(f"since {_text(self.since)}")
        if self.until is not None:
            parts.append(f"until {_text(self.until)}")
        if self.orientation:
            parts.append(self.orientation)
        if self._min:
            parts.append(f"at least {self._min[0]}x{self._min[1]}")
        parts += [f"tagged {t}" for t in self.tags] + [f"not tagged {t}" for t in self.not_tags]
        return ", ".join(parts) or "no filters"

    def sql(self) -> tuple[str, list]:
        """``(WHERE clause over table alias f, parameters)`` selecting the indexed files that match."""
        clauses, params = ["f.status = 'ok'"], []
        if self.under:
            ors = []
            for root in self.under:
                prefix = root.rstrip(os.sep) + os.sep
                # a range on the UNIQUE path index, as Catalog.rows_under does
                ors.append("f.path = ? OR (f.path >= ? AND f.path < ?)")
                params += [root, prefix, prefix + "\U0010ffff"]
            clauses.append("(" + " OR ".join(f"({o})" for o in ors) + ")")
        # The capture date when there is one, else the file time: rows without taken_at compare
        # their mtime against the same local-time bound converted to epoch nanoseconds.
        if self._start is not None:
            clauses.append("(f.taken_at >= ? OR (f.taken_at IS NULL AND f.mtime_ns >= ?))")
            params += [self._start.isoformat(), _epoch_ns(self._start)]
        if self._end is not None:
            clauses.append("(f.taken_at < ? OR (f.taken_at IS NULL AND f.mtime_ns < ?))")
            params += [self._end.isoformat(), _epoch_ns(self._end)]
        t = SQUARE_TOLERANCE_PERCENT
        if self.orientation == "landscape":
            clauses.append(f"f.width * 100 > f.height * {t}")
        elif self.orientation == "portrait":
            clauses.append(f"f.height * 100 > f.width * {t}")
        elif self.orientation == "square":
            clauses.append(f"f.width * 100 <= f.height * {t} AND f.height * 100 <= f.width * {t}")
        if self._min is not None:
            clauses.append("f.width >= ? AND f.height >= ?")
            params += list(self._min)
        # tags belong to the content: every copy of a tagged picture matches (the `tagged` view)
        for tag in self.tags:
            clauses.append("f.sha IN (SELECT sha FROM tagged WHERE tag = ?)")
            params.append(tag)
        for tag in self.not_tags:
            clauses.append("f.sha NOT IN (SELECT sha FROM tagged WHERE tag = ?)")
            params.append(tag)
        return " AND ".join(clauses), params

    def matching_ids(self, db: sqlite3.Connection) -> np.ndarray:
        """Sorted int64 ids of the indexed files that match (a catalogue connection in)."""
        self.check_tags(db)
        where, params = self.sql()
        rows = db.execute(f"SELECT f.id FROM files f WHERE {where}", params)
        ids = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64)  # no per-row Python frame
        ids.sort()
        return ids


    def check_tags(self, db: sqlite3.Connection) -> None:
        """Raise ``QueryError`` naming the first tag that this catalogue does not know."""
        for tag in (*self.tags, *self.not_tags):
            if db.execute("SELECT 1 FROM tags WHERE name = ?", (tag,)).fetchone() is None:
                known = [r[0] for r in db.execute("SELECT name FROM tags ORDER BY name LIMIT 10")]
                hint = f"known tags: {', '.join(known)}" if known else "no tags yet"
                raise QueryError(f"unknown tag {tag!r} ({hint})", field="tags")


def period(value: DateLike, field: str | None = None) -> tuple[datetime, datetime]:
    """The period a date names, as ``[start, end)`` in local time.

    >>> period("2021-07")
    (datetime.datetime(2021, 7, 1, 0, 0), datetime.datetime(2021, 8, 1, 0, 0))
    """
    if isinstance(value, datetime):
        return value, value + timedelta(seconds=1)
    if isinstance(value, date):
        start = datetime(value.year, value.month, value.day)
        return start, start + timedelta(days=1)
    match = _DATE.match(str(value).strip())
    if not match:
        raise QueryError(f"{value!r} is not a date: use YYYY, YYYY-MM, YYYY-MM-DD or 'YYYY-MM-DD HH:MM'",
                         field=field)
    year, month, day, hour, minute, second = match.groups()
    try:
        start = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                         int(second or 0))
    except ValueError as exc:
        raise QueryError(f"{value!r} is not a date: {exc}", field=field) from exc
    if second is not None:
        end = start + timedelta(seconds=1)
    elif minute is not None:
        end = start + timedelta(minutes=1)
    elif day is not None:
        end = start + timedelta(days=1)
    elif month is not None:
        end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1)
    else:
        end = datetime(start.year + 1, 1, 1)
    return start, end


def parse_size(value: str | tuple[int, int]) -> tuple[int, int]:
    """``"1920x1080"`` -> (1920, 1080); ``"1000"`` -> (1000, 1000)."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        w, h = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise QueryError(f"{value!r} is not a size: use WIDTHxHEIGHT (e.g. 1920x1080) or one number",
                             field="min_size")
        w = int(match.group(1))
        h = int(match.group(2)) if match.group(2) is not None else w
    if w < 0 or h < 0:
        raise QueryError(f"{value!r}: sizes cannot be negative", field="min_size")
    return w, h


def _epoch_ns(moment: datetime) -> int:
    try:
        ns = round(moment.timestamp() * 1e9)  # naive datetime: local time, like the EXIF dates
    except (OverflowError, OSError, ValueError):  # year 1 or 9999 on some platforms
        ns = -(2 ** 63) if moment.year < 1970 else 2 ** 63 - 1
    return max(-(2 ** 63), min(2 ** 63 - 1, ns))  # SQLite integers are 64-bit


def _text(value: DateLike) -> str:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
