"""Free-text search over alerts: the grams of what an alert says, and the index that
finds them in either database.

Why grams of two characters: inspectors search in Chinese, where a word is most often
two characters (宜州, 登记, 超期) and nothing separates words. An index of words finds
nothing there; one of trigrams (pg_trgm, FTS5's `trigram`) nothing under three
characters; and `LIKE '%term%'` alone reads every row (a second at a million alerts).
So each alert's grams, every pair of adjacent letters or digits of its `search` text
(computed here in Python, the same way for the row and for the question), are stored in
`alert_search` by the alert's journal position, and the database indexes them:

- PostgreSQL: a GIN index over the grams as an array. Core PostgreSQL: no extension to
  install, and nothing depends on the database's locale (pg_trgm would need a ctype
  other than C to see Chinese characters at all).
- SQLite: an FTS5 table of the grams (contentless, keyed by the journal position),
  kept by triggers on `alert_search`.

The grams have a table of their own, not a column of `alerts`, because an alert's row
is rewritten at each change of its state, and on PostgreSQL each new row version was
re-indexed, some fifty grams at a time: the projection's writes went ten per cent
slower for it (bench/RESULTS.md). The text itself seldom changes.

A search asks the index for the rows that hold every gram of its terms ("maybe"), and
the `LIKE` of each term keeps those that contain it as typed ("yes"). A term of one
character has no gram and is the `LIKE` alone. `ReadModel.search` counts first and, when
the matches are dense, walks the newest rows instead (see there).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from sqlalchemy import (
    ColumnElement,
    Integer,
    Text,
    and_,
    cast,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, array

from supervisor.store.schema import alert_search, alerts

#: Characters FTS5's `unicode61` tokenizer (Unicode 6.1 tables) takes for separators
#: though Python (Unicode 15) calls them letters: a gram holding one would be two
#: tokens, a phrase the index cannot answer. Here they separate words too, so the row
#: and the question are cut alike (tests/store/test_search.py checks the list against
#: the SQLite in use).
_SEPARATORS_FOR_FTS: Final = "".join(
    chr(c) for c in (*range(0x19B0, 0x19C1), 0x19C8, 0x19C9, 0x1CF2, 0x1CF3)
)
#: A word: letters and digits (not `_`), cut at anything else.
_WORD: Final = re.compile(rf"[^\W_{_SEPARATORS_FOR_FTS}]+")
#: A center id that gets a token among the grams (see `center_token`).
_CENTER: Final = re.compile(r"[0-9a-z]{1,16}")
#: Centers a search asks the index for at most (see `holds`); more, and their tokens
#: match most rows anyway.
MAX_CENTERS: Final = 16
#: Grams asked of the index for one search at most; the `LIKE` checks every term whole,
#: so asking fewer only narrows less.
MAX_ASKED: Final = 32

#: Objects the migrations make that the table metadata does not declare (they are
#: dialect-specific); the metadata comparison leaves them alone.
FTS_TABLE: Final = "alerts_fts"
GRAMS_INDEX: Final = "ix_alert_search_grams"
UNDECLARED: Final = frozenset(
    {
        GRAMS_INDEX,
        FTS_TABLE,
        *(f"{FTS_TABLE}_{shadow}" for shadow in ("data", "idx", "config", "docsize", "content")),
    }
)

#: The DDL of the index, by dialect, as the last migration that changed it made it
#: (a migration that changes it again keeps its own copy of these first).
DDL: Final = {
    "postgresql": [
        f"CREATE INDEX {GRAMS_INDEX} ON alert_search USING gin (string_to_array(grams, ' '))",
    ],
    "sqlite": [
        # detail=none, columnsize=0: which rows hold a gram, nothing more (no phrases, no
        # ranking), so the index stays small and cheap to write.
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(grams, content='', "
        "detail=none, columnsize=0, tokenize='unicode61 remove_diacritics 0')",
        f"INSERT INTO {FTS_TABLE}(rowid, grams) SELECT seq, grams FROM alert_search",
        f"""CREATE TRIGGER alert_search_insert AFTER INSERT ON alert_search BEGIN
            INSERT INTO {FTS_TABLE}(rowid, grams) VALUES (new.seq, new.grams);
        END""",
        f"""CREATE TRIGGER alert_search_delete AFTER DELETE ON alert_search BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, grams)
                VALUES ('delete', old.seq, old.grams);
        END""",
        f"""CREATE TRIGGER alert_search_update AFTER UPDATE ON alert_search BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, grams)
                VALUES ('delete', old.seq, old.grams);
            INSERT INTO {FTS_TABLE}(rowid, grams) VALUES (new.seq, new.grams);
        END""",
    ],
}
DROP: Final = {
    "postgresql": [f"DROP INDEX IF EXISTS {GRAMS_INDEX}"],
    "sqlite": [
        "DROP TRIGGER IF EXISTS alert_search_insert",
        "DROP TRIGGER IF EXISTS alert_search_delete",
        "DROP TRIGGER IF EXISTS alert_search_update",
        f"DROP TABLE IF EXISTS {FTS_TABLE}",
    ],
}


def grams(text: str) -> list[str]:
    """Every pair of adjacent letters or digits within a word of `text`, each once, in
    the order met ("宜州区 超期" → 宜州, 州区, 超期)."""
    found: dict[str, None] = {}
    for word in _WORD.findall(text):
        for i in range(len(word) - 1):
            found.setdefault(word[i : i + 2])
    return list(found)


def center_token(center_id: str) -> str | None:
    """The token that marks a row of center `center_id` among its grams (longer than a
    gram, so never one), or None for an id that is not plain letters and digits."""
    plain = center_id.lower()
    return f"c{plain}" if _CENTER.fullmatch(plain) else None


def stored(text: str, center_id: str = "") -> str:
    """The `alert_search` grams of an alert whose `search` is `text`: its grams, and its center's
    token (so that a search within a few centers asks the index for both at once)."""
    token = center_token(center_id)
    return " ".join([*grams(text), token] if token else grams(text))


def asked(terms: list[str]) -> list[str]:
    """The grams a search for `terms` asks the index for (all must be there): of each
    word, pairs that cover it without overlapping (户口迁移 → 户口, 迁移), plus its last
    pair when its length is odd. Fewer keys make the index scan cheaper, and PostgreSQL
    multiplies the keys' frequencies to estimate the matches: the overlapping pairs of
    one word are no independent evidence, and asking all of them made it expect a few
    hundred rows where there were fifty thousand (bench/RESULTS.md)."""
    found: dict[str, None] = {}
    for term in terms:
        for word in _WORD.findall(term):
            pairs = [word[i : i + 2] for i in range(0, len(word) - 1, 2)]
            if len(word) % 2 and len(word) > 1:
                pairs.append(word[-2:])
            found.update(dict.fromkeys(pairs))
    return list(found)[:MAX_ASKED]


def holds(
    dialect: str, wanted: list[str], centers: Sequence[str] | None = None
) -> ColumnElement[bool]:
    """The rows whose grams include every one of `wanted` (not empty), asked of the
    dialect's index; with a few `centers` (at most MAX_CENTERS: a county and its
    townships), only rows of one of them. The index then finds the few matches within
    those centers itself, where it would otherwise fetch every match of the whole
    history to check its center: 25,000 rows for a common item (bench/RESULTS.md). The
    caller keeps its own filter on the centers: this only narrows."""
    tokens = [center_token(c) for c in centers or ()]
    among = (
        [t for t in tokens if t is not None]
        if centers and len(centers) <= MAX_CENTERS and None not in tokens
        else []
    )
    if dialect == "postgresql":
        # The expression as the index has it, separator as a literal: a bound parameter
        # would not match the indexed expression.
        indexed = func.string_to_array(alert_search.c.grams, literal_column("' '"))
        held: ColumnElement[bool] = indexed.op("@>")(cast(array(wanted), ARRAY(Text)))
        if among:
            held = and_(held, indexed.op("&&")(cast(array(among), ARRAY(Text))))
        return alerts.c.seq.in_(select(alert_search.c.seq).where(held))
    fts = table(FTS_TABLE, column("rowid", Integer))
    # Grams and tokens are letters and digits only, so quoting cannot be broken out of.
    match = " AND ".join(f'"{gram}"' for gram in wanted)
    if among:
        match += " AND (" + " OR ".join(f'"{token}"' for token in among) + ")"
    found = select(fts.c.rowid).where(text(f"{FTS_TABLE} MATCH :grams").bindparams(grams=match))
    return alerts.c.seq.in_(found)


def declared(_object: object, name: str | None, type_: str, *_: object) -> bool:
    """Alembic's `include_object`: compare what the metadata declares, and leave the
    search index's undeclared objects alone."""
    return not (type_ in ("table", "index") and name in UNDECLARED)
