"""Customer search: pinyin keys, the FTS5 trigram index and how queries use it.

Each customer row carries a derived ``search_text``: a run of *terms* — the name, the
company, their pinyin spelling and initials, phone digits, email, city, tags — each wrapped
in boundary markers, ``\\x02term\\x03``. The FTS5 table ``customer_search`` indexes that
text with the trigram tokenizer, so any substring of three or more characters is found
(Chinese included). Trigrams alone cannot find one- or two-character queries, which are
the most common ones in Chinese (``张三``, ``zs``); the markers make them three characters:
``\\x02zs`` finds every term starting with ``zs``, ``张三\\x03`` every term ending with
``张三``. The name and its initials get a doubled start marker so that a single first
keystroke (``王``, ``w``) finds names starting with it.

The index uses ``detail=none`` (no positions: about 40% faster to build and smaller), so a
query of three or more characters is matched as trigrams and then checked with ``instr``
against ``search_text`` itself.

Index upkeep is explicit, not by trigger: FTS5 flushes its pending data at every trigger
savepoint, which made per-row triggers four times slower than the set-based insert used
here. Every write of a customer row goes through the functions at the end of this module.
"""

from __future__ import annotations

import gc
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Connection, text

START = "\x02"
END = "\x03"
NAME_START = START + START

FTS_TABLE = "customer_search"
FTS_CREATE_SQL = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(search_text, content='customers', "
    "content_rowid='row_id', tokenize='trigram', detail='none', columnsize=0)"
)

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_MARKERS_RE = re.compile(r"[\x00-\x1f\x7f]")
_PHONE_QUERY_RE = re.compile(r"^[+\d\s\-().]+$")
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)

# Legal-form suffixes left out of a company's pinyin and word terms: nobody searches
# "youxiangongsi", and they would make every company match every other.
COMPANY_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "分公司",
    "集团",
    "公司",
    "co., ltd.",
    "co.,ltd.",
    "co. ltd.",
    "co., ltd",
    "co ltd",
    "ltd.",
    "ltd",
    "inc.",
    "inc",
    "llc",
    "gmbh",
    "corp.",
    "corp",
    "limited",
)

_SUFFIX_ENDINGS = tuple({s[-1] for s in COMPANY_SUFFIXES})

# Surnames whose reading differs from the character's everyday reading. The index holds
# both spellings, so 曾国藩 is found by "zgf" and by "cgf".
SURNAME_READINGS = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "区": "ou",
    "朴": "piao",
    "查": "zha",
    "盖": "ge",
    "覃": "qin",
    "乐": "yue",
    "缪": "miao",
    "翟": "zhai",
    "种": "chong",
    "秘": "bi",
    "繁": "po",
    "隗": "wei",
    "员": "yun",
    "召": "shao",
    "那": "na",
    "长孙": "zhang sun",
    "尉迟": "yu chi",
    "万俟": "mo qi",
}


def normalize(text: str) -> str:
    """Fold text for matching: full-width to half-width (NFKC), case, control characters."""
    ascii_only = text.isascii()
    folded = text.lower() if ascii_only else unicodedata.normalize("NFKC", text).casefold()
    return _MARKERS_RE.sub(" ", folded).strip()


_MAX_PHRASE = 6


def _toneless(syllable: str) -> str:
    decomposed = unicodedata.normalize("NFD", syllable).replace("u\u0308", "v")  # ü as typed
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def _pinyin_dicts() -> tuple[dict[int, str], dict[str, list[list[str]]]]:
    """pypinyin's character and phrase dictionaries, loaded on first use: importing them
    takes about a third of a second, which the desktop app's start should not pay."""
    from pypinyin.constants import PHRASES_DICT, PINYIN_DICT

    # Some 190,000 long-lived objects, plus the caches below (up to 65,536 entries each):
    # every full garbage collection walked all of them, which cost an initial sync
    # (millions of objects made and dropped) several seconds. Frozen, the collector
    # leaves them, and whatever else the process has loaded by now, alone: they live as
    # long as the process anyway.
    gc.freeze()
    return PINYIN_DICT, PHRASES_DICT


def warm_up() -> None:
    """Load the pinyin dictionaries now (e.g. in a background thread after start), so the
    first Chinese name typed or searched does not wait for them."""
    _pinyin_dicts()
    _longest_phrase_by_first_char()


@cache
def _char_syllable(ch: str) -> str:
    readings = _pinyin_dicts()[0].get(ord(ch))
    # A character pypinyin does not know stands for itself, so that syllables stay one
    # per character.
    return ch if readings is None else _toneless(readings.split(",")[0])


@lru_cache(maxsize=1)
def _longest_phrase_by_first_char() -> dict[str, int]:
    longest: dict[str, int] = {}
    for phrase in _pinyin_dicts()[1]:
        if 1 < len(phrase) <= _MAX_PHRASE and len(phrase) > longest.get(phrase[0], 1):
            longest[phrase[0]] = len(phrase)
    return longest


@lru_cache(maxsize=65536)
def _phrase_syllables(phrase: str) -> tuple[str, ...] | None:
    readings = _pinyin_dicts()[1].get(phrase)
    if readings is None or len(readings) != len(phrase):
        return None
    return tuple(_toneless(r[0]) for r in readings)


@lru_cache(maxsize=65536)
def _run_syllables(run: str) -> tuple[str, ...]:
    out: list[str] = []
    longest = _longest_phrase_by_first_char()
    phrases = _pinyin_dicts()[1]
    i, n = 0, len(run)
    while i < n:
        # Forward maximum matching against pypinyin's phrase dictionary, as its own
        # segmenter does (重庆 chong-qing, 银行 yin-hang), at a fifth of its cost.
        for length in range(min(longest.get(run[i], 1), n - i), 1, -1):
            if run[i : i + length] in phrases:
                phrase = _phrase_syllables(run[i : i + length])
                if phrase is not None:
                    out.extend(phrase)
                    i += length
                    break
        else:
            out.append(_char_syllable(run[i]))
            i += 1
    return tuple(out)


def pinyin_syllables(text: str) -> list[str]:
    """Toneless pinyin of the Chinese characters in ``text``, one syllable per character.

    Phrase-aware (重庆 is chong-qing, 银行 yin-hang), from pypinyin's dictionaries; ü is
    written v, as on a pinyin keyboard.
    """
    out: list[str] = []
    for run in _HAN_RUN_RE.findall(text):
        out.extend(_run_syllables(run))
    return out


def _bigrams(text: str) -> list[str]:
    return [text[i : i + 2] for i in range(len(text) - 1)]


def has_han(text: str) -> bool:
    return _HAN_RE.search(text) is not None


def company_core(company: str) -> str:
    """The distinctive part of a company name, without its legal-form suffix."""
    return _core_of_folded(normalize(company))


def _core_of_folded(folded: str) -> str:
    if not folded.endswith(_SUFFIX_ENDINGS):
        return folded
    changed = True
    while changed:
        changed = False
        for suffix in COMPANY_SUFFIXES:
            if folded.endswith(suffix) and len(folded) > len(suffix):
                folded = folded[: -len(suffix)].rstrip(" ,.()（）")
                changed = True
    return folded


@lru_cache(maxsize=65536)
def sort_key(text: str | None) -> str:
    """A key that orders names as Chinese users expect: by pinyin, mixed with Latin names.

    ``张三`` gives ``zhang san`` and sorts between ``Zeng`` and ``Zhou``; the original text
    follows after a separator, to keep homophones apart in a stable order.
    """
    if not text:
        return ""
    folded = normalize(text)
    parts: list[str] = []
    position = 0
    for match in _HAN_RUN_RE.finditer(folded):
        parts.extend(folded[position : match.start()].split())
        parts.extend(pinyin_syllables(match.group()))
        position = match.end()
    parts.extend(folded[position:].split())
    return " ".join(parts) + "\x1f" + folded


@lru_cache(maxsize=65536)
def _name_terms(name: str) -> tuple[str, ...]:
    folded = normalize(name)
    if not folded:
        return ()
    terms = [NAME_START + folded + END]
    words = folded.split()
    terms.extend(START + w + END for w in words[1:])
    if has_han(folded):
        syllables = pinyin_syllables(folded)
        if syllables:
            terms.append(START + "".join(syllables) + END)
            terms.append(NAME_START + "".join(s[0] for s in syllables) + END)
        surname = folded[:2] if folded[:2] in SURNAME_READINGS else folded[:1]
        reading = SURNAME_READINGS.get(surname)
        if reading is not None:
            alt = reading.split() + syllables[len(surname) :]
            terms.append(START + "".join(alt) + END)
            terms.append(NAME_START + "".join(s[0] for s in alt) + END)
    else:
        initials = "".join(w[0] for w in _WORD_RE.findall(folded))
        if len(initials) > 1:
            terms.append(NAME_START + initials + END)
    return tuple(terms)


@lru_cache(maxsize=65536)
def _company_terms(company: str) -> tuple[str, ...]:
    folded = normalize(company)
    if not folded:
        return ()
    terms = [START + folded + END]
    core = _core_of_folded(folded)
    if has_han(core):
        # The core is the start of the full name: its syllables are the first ones.
        syllables = pinyin_syllables(folded)[: len(_HAN_RE.findall(core))]
        initials = "".join(s[0] for s in syllables)
        # Every inner pair of characters (and of pinyin initials) as a term of its own, so
        # that a two-character query finds it anywhere in the name: 华为 and hw in
        # 上海华为技术. The first pair is already the start of the whole name.
        pairs = [p for run in _HAN_RUN_RE.findall(core) for p in _bigrams(run)]
        inner = dict.fromkeys(pairs + _bigrams(initials)[1:])
        inner.pop(core[:2], None)
        terms.extend(START + pair + END for pair in inner)
        if syllables:
            terms.append(START + "".join(syllables) + END)
            terms.append(START + initials + END)
    else:
        words = core.split()
        terms.extend(START + w + END for w in words[1:])
        initials = "".join(w[0] for w in _WORD_RE.findall(core))
        if len(initials) > 1:
            terms.append(START + initials + END)
    return tuple(terms)


def _digits(phone: str | None) -> str:
    if not phone:
        return ""
    if phone.isascii():  # the usual case: NFKC changes nothing, digits are 0-9
        return phone.translate(_ASCII_NON_DIGITS)
    return "".join(ch for ch in unicodedata.normalize("NFKC", phone) if ch.isdigit())


_ASCII_NON_DIGITS = {c: None for c in range(128) if not chr(c).isdigit()}


DERIVED_COLUMNS = ("name_sort", "company_sort", "search_text")


def customer_search_columns(values: Mapping[str, Any]) -> dict[str, str]:
    """The derived columns of a customer row: ``name_sort``, ``company_sort``, ``search_text``.

    ``values`` holds the customer's fields (Python values); missing ones count as empty.
    """
    name = values.get("name") or ""
    company = values.get("company") or ""
    terms: list[str] = [*_name_terms(name), *_company_terms(company)]
    for key in ("phone", "mobile"):
        digits = _digits(values.get(key))
        if digits:
            terms.append(START + digits + END)
    email = values.get("email")
    if email:
        terms.append(START + normalize(email) + END)
    city = values.get("city")
    if city:
        folded = normalize(city)
        terms.append(START + folded + END)
        if has_han(folded):
            terms.append(START + "".join(pinyin_syllables(folded)) + END)
    for tag in values.get("tags") or ():
        terms.append(START + normalize(tag) + END)
    return {
        "name_sort": sort_key(name),
        "company_sort": sort_key(company),
        "search_text": "".join(terms),
    }


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How to run one search: an FTS5 MATCH expression and substrings to confirm."""

    match: str
    needles: tuple[str, ...]
    # A one-character word matches only names (and their initials) starting with it: the
    # matches then sit together in name order, not spread over the list.
    name_prefix: bool = False


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def plan_search(query: str) -> SearchPlan | None:
    """Turn what the user typed into a :class:`SearchPlan`; ``None`` for an empty query.

    Words separated by spaces must all match (AND). A query that looks like a phone number
    (``138-1234 5678``) is reduced to its digits, as phones are indexed.
    """
    folded = normalize(query)
    if not folded:
        return None
    if _PHONE_QUERY_RE.match(folded) and sum(c.isdigit() for c in folded) >= 3:
        digits = "".join(c for c in folded if c.isdigit())
        if folded.startswith(("+86", "0086")) and len(digits) > 11:
            digits = digits[-11:]  # the country code is rarely stored with the number
        tokens = [digits]
    else:
        tokens = folded.split()
    parts: list[str] = []
    needles: list[str] = []
    name_prefix = False
    for token in dict.fromkeys(tokens):
        if len(token) >= 3:
            # detail=none has no phrase queries: AND trigrams that cover the token, then
            # confirm the whole substring with instr().
            starts = list(range(0, len(token) - 2, 3))
            if starts[-1] != len(token) - 3:
                starts.append(len(token) - 3)
            parts.append(" AND ".join(_quote(token[i : i + 3]) for i in starts))
            if len(token) > 3:
                needles.append(token)
        elif len(token) == 2:
            parts.append(f"({_quote(START + token)} OR {_quote(token + END)})")
        else:
            parts.append(_quote(NAME_START + token))
            name_prefix = True
    return SearchPlan(" AND ".join(f"({p})" for p in parts), tuple(needles), name_prefix)


# --- index upkeep -------------------------------------------------------------------------


def index_rows_after(conn: Connection, row_id: int) -> None:
    """Index every customer row whose ``row_id`` is above ``row_id`` (just inserted)."""
    conn.execute(
        text(
            f"INSERT INTO {FTS_TABLE}(rowid, search_text) "
            "SELECT row_id, search_text FROM customers WHERE row_id > :lo"
        ),
        {"lo": row_id},
    )


def index_row(conn: Connection, row_id: int, search_text: str) -> None:
    conn.execute(
        text(f"INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (:rowid, :text)"),
        {"rowid": row_id, "text": search_text},
    )


def unindex_rows(conn: Connection, rows: Iterable[tuple[int, str]]) -> None:
    """Remove ``(row_id, search_text as indexed)`` entries before a row changes or goes."""
    params = [{"rowid": r, "text": t} for r, t in rows]
    if params:
        conn.execute(
            text(
                f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) "
                "VALUES ('delete', :rowid, :text)"
            ),
            params,
        )


def check_index(conn: Connection) -> None:
    """Raise ``sqlalchemy.exc.DatabaseError`` if the index and the customers table differ."""
    conn.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)"))


def rebuild_index(conn: Connection) -> None:
    conn.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"))
