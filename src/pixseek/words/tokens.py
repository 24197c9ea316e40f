"""Turning words into what the keyword index stores and what a query asks it for.

The index is SQLite FTS5 with the ``unicode61 remove_diacritics 2`` tokenizer (case and accent
folding: ``Café`` is found by ``cafe``). Chinese, Japanese and Korean have no spaces between words,
and FTS5's tokenizers see a whole run of them as one token; the ``trigram`` tokenizer would find
substrings but only of three characters or more, and the commonest Chinese words have two
(收据 receipt, 菜单 menu, 出口 exit). So CJK runs are written as overlapping bigrams before they
reach FTS5, and a query's CJK runs become the same bigrams (all required, as a phrase):
``收据总计`` is indexed as ``收据 据总 总计`` and found by ``收据``, ``总计`` or ``据总计``.

Names are split further: ``insurance-claim_2022.jpg`` -> ``insurance claim 2022``,
``IMG_20210704`` -> ``IMG 20210704``, ``myHolidayPics`` -> ``my Holiday Pics``.
"""

from __future__ import annotations

import re
import unicodedata

# Han (with extensions A and compatibility ideographs), kana, Hangul: scripts written without spaces
_CJK = (r"\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
        r"\U00020000-\U0002ebef")
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(f"[{_CJK}]+|(?:(?![{_CJK}])[^\\W_])+")  # a CJK run, or other letters/digits
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")


def is_cjk(token: str) -> bool:
    return bool(_CJK_RUN.fullmatch(token))


def bigrams(run: str) -> list[str]:
    """``收据总计`` -> ``['收据', '据总', '总计']``; one character stays itself."""
    if len(run) < 2:
        return [run]
    return [run[i:i + 2] for i in range(len(run) - 1)]


def words_of(text: str) -> list[str]:
    """The words of ``text`` as they are indexed (NFKC, lower case; CJK runs apart from the rest)."""
    text = unicodedata.normalize("NFKC", text)
    return [w.lower() for w in _WORD.findall(text)]


def index_text(text: str) -> str:
    """What the FTS5 column holds for ``text``: its words, CJK runs as overlapping bigrams."""
    out: list[str] = []
    for word in words_of(text):
        out.extend(bigrams(word) if is_cjk(word) else [word])
    return " ".join(out)


def split_name(name: str) -> str:
    """A file or folder name as words: ``insurance-claim_2022.jpg`` -> ``insurance claim 2022``
    (the extension is dropped for files: pass ``Path.stem``); splits on ``_ - .`` and spaces,
    camelCase and runs of digits."""
    name = unicodedata.normalize("NFKC", name)
    parts = []
    for piece in re.split(r"[\s_\-.]+", name):
        parts.extend(p for p in _CAMEL.split(piece) if p)
    return " ".join(parts)


# words that say nothing on their own in a description ("a dog on the beach"); a query made of
# nothing else keeps them
STOP_WORDS = frozenset("a an the of on in at to by for with and or is are from this that photo photos "
                       "picture image".split())
MIN_PREFIX = 3  # shorter Latin words and numbers match whole words only ("a" is not a prefix of everything)


def query_terms(text: str) -> list[str]:
    """The terms of a query, each one FTS5 expression: a Latin word of ``MIN_PREFIX`` letters or
    more is a prefix (``rout`` finds ``router``), a shorter one a whole word; a CJK run the phrase
    of its bigrams (a single character: a prefix of them). Stop words are left out."""
    words = list(dict.fromkeys(words_of(text)))
    kept = [w for w in words if w not in STOP_WORDS] or words
    terms = []
    for word in kept:
        if is_cjk(word):
            if len(word) == 1:
                terms.append(f'"{word}"*')
            else:
                terms.append('"' + " ".join(bigrams(word)) + '"')
        else:
            terms.append(f'"{word}"*' if len(word) >= MIN_PREFIX else f'"{word}"')
    return terms


def matches(token_query: str, text: str) -> bool:
    """Whether a stored ``text`` holds the query word ``token_query`` (as the index would match it):
    for picking the words to highlight."""
    want = words_of(token_query)
    have = index_text(text).split()
    for word in want:
        if is_cjk(word):
            grams = bigrams(word)
            if not all(g in have for g in grams) and not (len(word) == 1 and any(h.startswith(word) for h in have)):
                return False
        elif not any(h.startswith(word) for h in have):
            return False
    return bool(want)
