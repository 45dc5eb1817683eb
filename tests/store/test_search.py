"""Free-text search through the grams index (supervisor/store/search.py), on SQLite and on
a real PostgreSQL: the index never hides a match (a property over any text), the
database really answers from the index, it follows inserts, changes and deletions, the
dense and sparse paths give the same pages, and a database made before the index gets
it with its rows' grams."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, Select, Text, column, func, insert, select, table, text

from supervisor.store import queries, rows, search
from supervisor.store.db import Database
from supervisor.store.projection import Projection
from supervisor.store.queries import AlertQuery, ReadModel
from supervisor.store.schema import alert_search, alerts
from supervisor.web.journal import Entry, lifecycle_record
from tests.store.migrating import downgrade_to, upgrade_to
from tests.store.test_projection import AT, BY, TOPICS, journal
from tests.web.test_hub import make_alert

NAMES = {"451221": "南丹县政务服务中心", "451224": "东兰县政务服务中心"}
#: Terms of one, two and more characters, Chinese and not, common and rare, some of them
#: crossing a word's end or a hyphen, and some found nowhere.
TERMS = [
    "南", "南丹", "南丹县", "东兰", "超期", "已超过", "登记", "社会团体", "不动产登记",
    "451224", "ab-12", "-12", "ab", "0000003", "办件 超期", "超期 东兰", "兰县政", "无此词",
    "z", "100%_",
]  # fmt: skip


@pytest.fixture
async def read(database_url: str) -> AsyncIterator[ReadModel]:
    db = Database(database_url)
    await db.upgrade()
    try:
        yield ReadModel(db, "Asia/Shanghai")
    finally:
        await db.dispose()


def alert(n: int, center: str, item: str, code: str = "") -> dict[str, object]:
    made = make_alert(n, center_id=center, raised_at=f"2026-11-{n % 28 + 1:02d}T10:00:00+08:00")
    made["details"] = {"item_name": item, "item_code": code}
    return made


def history() -> list[dict[str, object]]:
    items = ["不动产登记", "社会团体成立登记", "个体工商户注册", "户籍迁移"]
    return [
        alert(n, "451221" if n % 3 else "451224", items[n % 4], f"QX-ab-12{n}" if n % 5 else "")
        for n in range(1, 41)
    ]


async def by_like(read: ReadModel, term: str, **filters: Any) -> list[str]:
    """The ids a search for `term` finds with the LIKEs alone (no index), newest first."""
    query = read_query(term, **filters)
    async with read.db.engine.connect() as connection:
        found = await connection.scalars(
            read.alert_select(query, indexed=False).with_only_columns(alerts.c.alert_id)
        )
        return list(found)


def read_query(term: str, **filters: object) -> AlertQuery:
    return AlertQuery(**{"text": term, "limit": 100, **filters})  # type: ignore[arg-type]


# -- the grams ------------------------------------------------------------------------


def test_grams_are_adjacent_pairs_within_words() -> None:
    assert search.grams("宜州区 超期-3天 a_bc 区") == ["宜州", "州区", "超期", "3天", "bc"]
    assert search.stored("办件 超期 超期") == "办件 超期"
    assert search.stored("宜州区", "451221") == "宜州 州区 c451221"
    assert search.stored("宜州区", "45 12") == "宜州 州区"  # no token for an odd id
    assert search.center_token("451221100") == "c451221100"
    assert search.center_token("x" * 17) is None
    assert search.asked(["南", "z"]) == []  # one character: the LIKE alone
    assert search.asked(["户口迁移", "不动产登记"]) == ["户口", "迁移", "不动", "产登", "登记"]
    assert len(search.asked(["".join(map(chr, range(0x4E00, 0x4E64)))])) == search.MAX_ASKED


@given(st.text(max_size=60), st.data())
def test_every_substring_asks_only_for_grams_the_text_holds(
    source: str, data: st.DataObject
) -> None:
    lowered = source.lower()
    start = data.draw(st.integers(0, len(lowered)))
    end = data.draw(st.integers(start, len(lowered)))
    term = lowered[start:end]
    assert set(search.asked([term])) <= set(search.grams(lowered))


def test_every_gram_is_one_token_of_the_sqlite_in_use() -> None:
    """A character Python calls a letter or digit but FTS5's tokenizer a separator would
    make a gram two tokens, a phrase the index cannot answer: search.py cuts words at
    those, and this finds any it misses in the SQLite this runs with."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(g, tokenize='unicode61 remove_diacritics 0')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    kept = [
        chr(c)
        for c in range(0x30, 0x110000)
        if not 0xD800 <= c < 0xE000 and len(search.grams(f"a{chr(c)}")) == 1
    ]
    db.executemany("INSERT INTO t(rowid, g) VALUES (?, ?)", ((ord(c), f"a{c}") for c in kept))
    split = db.execute("SELECT doc FROM v GROUP BY doc HAVING count(*) != 1").fetchall()
    assert len(kept) > 100_000 and [hex(doc) for (doc,) in split] == []


# -- the index in the databases ---------------------------------------------------------


async def test_the_index_finds_what_like_finds(read: ReadModel) -> None:
    await Projection(read.db, TOPICS, center_names=NAMES).apply(journal(*history()))
    for term in TERMS:
        assert await ids(read, term) == await by_like(read, term), term
    assert (await read.search(read_query("不动产登记"))).total == 10
    assert (await read.search(read_query("东兰"))).total == 13
    many = [f"4512{n:05d}" for n in range(20)]  # more than the index is asked for
    for centers in (["451224"], ["451221", "451224"], ["451224", "45-bad"], many, []):
        for term in TERMS:
            found = await ids(read, term, centers=centers)
            assert found == await by_like(read, term, centers=centers), (term, centers)
    assert len(await ids(read, "登记", centers=["451224"])) == 6  # n = 9, 12, 21, 24, 33, 36


async def test_the_database_answers_from_the_index(read: ReadModel) -> None:
    """The planner can use the index for the condition as written (on PostgreSQL the
    indexed expression has to match to the letter, separator included)."""
    await Projection(read.db, TOPICS, center_names=NAMES).apply(journal(*history()))
    statement = select(func.count()).where(
        search.holds(read.db.dialect, search.asked(["不动产登记"]), ["451221", "451224"])
    )
    async with read.db.engine.connect() as connection:
        plan = await connection.run_sync(_plan, statement)
    if read.db.dialect == "postgresql":
        assert search.GRAMS_INDEX in plan, plan
    else:
        assert f"{search.FTS_TABLE} VIRTUAL TABLE INDEX" in plan, plan
    # the dense page walks the order's index, whatever else could serve its filters
    dense = read.page_select(AlertQuery(centers=["451224"], status="open", text="东兰"), dense=True)
    async with read.db.engine.connect() as connection:
        await read.db.walk_in_order(connection)
        walked = await connection.run_sync(_plan, dense)
    assert "ix_alerts_raised" in walked and "ix_alerts_status" not in walked, walked


def _plan(connection: Connection, statement: Select[Any]) -> str:
    sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # 40 rows: else a scan
        found = connection.exec_driver_sql(f"EXPLAIN {sql}")
    else:
        found = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
    return "\n".join(str(row[-1]) for row in found)


async def test_the_index_follows_changes_and_deletions(read: ReadModel) -> None:
    made = history()
    projection = Projection(read.db, TOPICS, center_names=NAMES)
    await projection.apply(journal(*made))
    changes = [
        lifecycle_record(str(a["alert_id"]), "acknowledge", by=BY, at=AT, note="已签收")
        for a in made[:10]
    ]
    await projection.apply(journal(*changes, start=len(made)))
    before = await by_like(read, "不动产")
    assert len(before) == 10
    for term in TERMS:
        assert await ids(read, term) == await by_like(read, term), term
    await projection.prune(datetime.fromisoformat("2026-11-15T00:00:00+08:00"))
    after = await by_like(read, "不动产")
    assert 0 < len(after) < len(before)
    for term in TERMS:
        assert await ids(read, term) == await by_like(read, term), term
    if read.db.dialect == "sqlite":  # the triggers kept the FTS table exactly
        async with read.db.engine.connect() as connection:
            for gram in ("不动", "东兰", "12", "超期"):
                indexed = set(
                    await connection.scalars(
                        text(
                            f"SELECT rowid FROM {search.FTS_TABLE} WHERE {search.FTS_TABLE} "
                            "MATCH :m"
                        ).bindparams(m=f'"{gram}"')
                    )
                )
                stored = {
                    seq
                    for seq, grams in await connection.execute(
                        select(alert_search.c.seq, alert_search.c.grams)
                    )
                    if gram in grams.split()
                }
                assert indexed == stored and stored, gram


async def test_dense_and_sparse_matches_give_the_same_pages(
    read: ReadModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    await Projection(read.db, TOPICS, center_names=NAMES).apply(journal(*history()))
    asked = [read_query(t, limit=4, offset=o) for t in ("东兰", "登记") for o in (0, 4)]
    asked += [AlertQuery(centers=["451221"], status="open", limit=4, offset=o) for o in (0, 4)]
    sparse = [await read.search(q) for q in asked]
    monkeypatch.setattr(queries, "TOTAL_CAP", 3)  # every search is now dense
    dense = [await read.search(q) for q in asked]
    assert [p.items for p in dense] == [p.items for p in sparse]
    assert all(p.total == 3 and not p.total_exact for p in dense)
    assert all(p.total > 3 and p.total_exact for p in sparse)


async def test_a_database_made_before_the_index_gets_it_with_its_grams(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(upgrade_to, "0001")
        entry_rows = [
            rows.alert_row(
                Entry(alert=a, seq=n, updated_seq=n, raised=0.0), NAMES[str(a["center_id"])]
            )
            for n, a in enumerate(history())
        ]
        async with db.engine.begin() as connection:
            await connection.execute(insert(alerts), entry_rows)
        await db.upgrade()
        read = ReadModel(db, "Asia/Shanghai")
        assert (await read.search(read_query("不动产登记"))).total == 10
        for term in TERMS:
            assert await ids(read, term) == await by_like(read, term), term
    finally:
        await db.dispose()


async def test_grams_are_written_when_the_text_changes_not_the_state(read: ReadModel) -> None:
    """An alert's change of state rewrites its `alerts` row, not its grams (which would
    re-index them); a change of its text (its center named otherwise) rewrites them."""
    made = history()
    await Projection(read.db, TOPICS, center_names=NAMES).apply(journal(*made))
    first = made[0]
    async with read.db.engine.begin() as connection:
        seq = await connection.scalar(
            select(alerts.c.seq).where(alerts.c.alert_id == first["alert_id"])
        )
        await connection.execute(
            alert_search.update().where(alert_search.c.seq == seq).values(grams="marked")
        )
    acknowledged = lifecycle_record(str(first["alert_id"]), "acknowledge", by=BY, at=AT)
    renamed = {**NAMES, str(first["center_id"]): "金城江区政务服务中心"}
    projection = Projection(read.db, TOPICS, center_names=renamed)
    await projection.apply(journal(acknowledged, start=len(made)))
    async with read.db.engine.connect() as connection:
        status = await connection.scalar(
            select(alerts.c.status).where(alerts.c.alert_id == first["alert_id"])
        )
        grams = await connection.scalar(
            select(alert_search.c.grams).where(alert_search.c.seq == seq)
        )
    assert status == "acknowledged"
    assert grams != "marked" and "金城" in str(grams).split()  # the name changed: rewritten
    second = next(a for a in made if a["center_id"] != first["center_id"])  # not renamed
    async with read.db.engine.begin() as connection:
        seq = await connection.scalar(
            select(alerts.c.seq).where(alerts.c.alert_id == second["alert_id"])
        )
        await connection.execute(
            alert_search.update().where(alert_search.c.seq == seq).values(grams="marked")
        )
    acknowledged = lifecycle_record(str(second["alert_id"]), "acknowledge", by=BY, at=AT)
    await projection.apply(journal(acknowledged, start=len(made) + 1))
    async with read.db.engine.connect() as connection:
        grams = await connection.scalar(
            select(alert_search.c.grams).where(alert_search.c.seq == seq)
        )
    assert grams == "marked"  # the state alone changed: the grams were left alone


async def test_grams_move_out_of_the_alerts_of_an_older_database(database_url: str) -> None:
    """A database at the revision that kept the grams in `alerts` gets them moved, the
    search finds what it found, and the way back restores the column."""
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(upgrade_to, "0003")
        made = [
            rows.alert_row(
                Entry(alert=a, seq=n, updated_seq=n, raised=0.0), NAMES[str(a["center_id"])]
            )
            for n, a in enumerate(history())
        ]
        # the table as that revision had it: the grams a column of its own
        before = table(
            "alerts", *(column(c.name, c.type) for c in alerts.c), column("search_grams", Text)
        )
        async with db.engine.begin() as connection:
            await connection.execute(
                insert(before),
                [{**r, "search_grams": search.stored(r["search"], r["center_id"])} for r in made],
            )
        await db.upgrade()
        read = ReadModel(db, "Asia/Shanghai")
        assert (await read.search(read_query("不动产登记"))).total == 10
        for term in TERMS:
            assert await ids(read, term) == await by_like(read, term), term
        async with db.engine.begin() as connection:
            await connection.run_sync(downgrade_to, "0003")
            kept = await connection.scalar(
                text("SELECT count(*) FROM alerts WHERE search_grams LIKE '%不动%'")
            )
        assert kept == 10
    finally:
        await db.dispose()


async def ids(read: ReadModel, term: str, **filters: Any) -> list[str]:
    return [a["alert_id"] for a in (await read.search(read_query(term, **filters))).items]
