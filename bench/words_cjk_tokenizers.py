"""Which FTS5 set-up finds Chinese and Japanese words in OCR text: measured, not assumed.

Indexes the same lines (what OCR returns from receipts, menus, signs and slides: no spaces between
CJK words, Latin words and numbers mixed in) three ways and asks each for every word a person
would type (2-character words such as 收据, longer ones, Japanese, a number, a partial Latin word):

- ``unicode61``: FTS5's default tokenizer (a CJK run is one token);
- ``trigram``: FTS5's trigram tokenizer (substrings of 3 characters or more);
- ``bigrams``: pixseek's choice: unicode61 over text whose CJK runs are written as overlapping
  bigrams (``pixseek.words.tokens``), queried the same way.

Prints, per set-up, how many query words find their line, and the index size.

    python bench/words_cjk_tokenizers.py
"""

from __future__ import annotations

import sqlite3

from pixseek.words.tokens import index_text, query_terms

LINES = [
    "收据总计128元", "发票号码 No.00451", "今日菜单 牛肉面 28元", "出口 EXIT", "禁止吸烟",
    "会议纪要 2024年3月", "北京欢迎你", "営業時間 10:00-22:00", "ラーメン 醤油 850円", "東京駅 出口",
    "Router Login admin", "停车场入口", "营业执照", "请勿触摸", "入场券 成人票",
]
QUERIES = {  # word -> the line(s) it must find
    "收据": 0, "总计": 0, "发票": 1, "00451": 1, "菜单": 2, "牛肉面": 2, "出口": (3, 9), "吸烟": 4, "会议纪要": 5,
    "2024": 5, "北京": 6, "営業": 7, "ラーメン": 8, "醤油": 8, "東京": 9, "rout": 10, "login": 10,
    "停车": 11, "入口": 11, "执照": 12, "触摸": 13, "门票": None, "成人": 14,
}


def build(tokenizer: str, prepare) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{tokenizer}')")
    db.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", [(i, prepare(line)) for i, line in enumerate(LINES)])
    db.commit()
    return db


def found(db: sqlite3.Connection, expr: str) -> set[int]:
    try:
        return {r[0] for r in db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,))}
    except sqlite3.OperationalError:
        return set()


def size(db: sqlite3.Connection) -> int:
    return db.execute("SELECT SUM(LENGTH(block)) FROM t_data").fetchone()[0]


def main() -> None:
    setups = {
        "unicode61": (build("unicode61 remove_diacritics 2", str), lambda q: f'"{q}"*'),
        "trigram": (build("trigram", str), lambda q: f'"{q}"'),
        "bigrams": (build("unicode61 remove_diacritics 2", index_text), lambda q: " AND ".join(query_terms(q))),
    }
    print(f"{len(LINES)} OCR lines, {len(QUERIES)} query words ({sum(v is not None for v in QUERIES.values())} "
          "present, 1 absent)")
    print(f"{'set-up':<10} {'found':>6} {'false':>6} {'2-char CJK found':>17} {'index bytes':>12}  missed")
    for name, (db, expr) in setups.items():
        hits = wrong = two = two_total = 0
        missed = []
        for q, want in QUERIES.items():
            got = found(db, expr(q))
            if want is None:
                wrong += len(got)
                continue
            want = set(want) if isinstance(want, tuple) else {want}
            ok = want <= got
            hits += ok
            wrong += len(got - want)
            if len(q) == 2 and all(ord(c) > 0x3000 for c in q):
                two_total += 1
                two += ok
            if not ok:
                missed.append(q)
        present = sum(v is not None for v in QUERIES.values())
        print(f"{name:<10} {hits:>3}/{present:<2} {wrong:>6} {two:>10}/{two_total:<6} {size(db):>12}  {' '.join(missed)}")


if __name__ == "__main__":
    main()
