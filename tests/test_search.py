"""Customer search: pinyin keys, query plans, and the FTS5 index through a real replica."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin

from sync.demo_data import GIVEN, SURNAMES
from sync.replica import Replica
from sync.search import (
    END,
    NAME_START,
    START,
    company_core,
    customer_search_columns,
    normalize,
    pinyin_syllables,
    plan_search,
    sort_key,
)

# --- pinyin -----------------------------------------------------------------------------


def test_pinyin_is_phrase_aware() -> None:
    # 重 is zhong and 长 is zhang on their own; in 重庆 and 长安 they are chong and chang.
    assert pinyin_syllables("重庆长安") == ["chong", "qing", "chang", "an"]
    banks = pinyin_syllables("中国工商银行")
    assert len(banks) == 6
    assert banks[-2:] == ["yin", "hang"]  # 行 is hang in 银行, not xing
    assert banks == ["zhong", "guo", "gong", "shang", "yin", "hang"]


def test_pinyin_writes_u_umlaut_as_v_and_drops_tones() -> None:
    assert pinyin_syllables("绿") == ["lv"]
    assert pinyin_syllables("女") == ["nv"]
    assert all(s.isascii() and s.isalpha() for s in pinyin_syllables("张三李四王五赵六"))


def test_pinyin_ignores_non_chinese_text() -> None:
    assert pinyin_syllables("Acme 华为 2024") == ["hua", "wei"]
    assert pinyin_syllables("John Smith") == []
    assert pinyin_syllables("") == []


def test_normalize_folds_width_and_case() -> None:
    assert normalize("ＺｈａｎｇＳａｎ") == "zhangsan"
    assert normalize("  John SMITH ") == "john smith"
    assert normalize("a\x02b\x03") == "a b"  # query text can never forge a marker


# --- sort keys --------------------------------------------------------------------------


def test_sort_key_orders_chinese_by_pinyin_among_latin_names() -> None:
    names = ["张三", "李四", "Alice", "王五", "zoe"]
    assert sorted(names, key=sort_key) == ["Alice", "李四", "王五", "张三", "zoe"]
    assert sort_key("张三").startswith("zhang san")
    assert sort_key("李四").startswith("li si")
    assert sort_key("王五").startswith("wang wu")
    assert sort_key(None) == sort_key("") == ""


def test_sort_key_keeps_homophones_apart_and_ignores_case() -> None:
    assert sort_key("张三") != sort_key("章三")
    assert sort_key("Alice") == sort_key("alice")
    assert sorted(["Zeng", "张三", "Zhou"], key=sort_key) == ["Zeng", "张三", "Zhou"]


# --- company cores ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("company", "core"),
    [
        ("上海华为技术有限公司", "上海华为技术"),
        ("重庆长安汽车股份有限公司", "重庆长安汽车"),
        ("深圳鼎新科技集团有限公司", "深圳鼎新科技"),
        ("北京中天有限责任公司", "北京中天"),
        ("Acme Trading Co., Ltd.", "acme trading"),
        ("Global Logistics Ltd.", "global logistics"),
        ("Pioneer Medical Inc.", "pioneer medical"),
        ("华为", "华为"),
        ("公司", "公司"),  # never strips a name down to nothing
        ("Ltd.", "ltd."),
    ],
)
def test_company_core_strips_legal_suffixes(company: str, core: str) -> None:
    assert company_core(company) == core


# --- query plans ------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   ", "\t\n", "\x02\x03"])
def test_blank_queries_have_no_plan(query: str) -> None:
    assert plan_search(query) is None


@pytest.mark.parametrize(
    ("query", "digits"),
    [
        ("138-1234 5678", "13812345678"),
        ("(021) 5555-1234", "02155551234"),
        ("１３８ １２３４", "1381234"),
        ("5678", "5678"),
    ],
)
def test_phone_looking_queries_are_reduced_to_digits(query: str, digits: str) -> None:
    plan = plan_search(query)
    assert plan is not None
    assert plan.needles == (digits,)
    assert '"' + digits[:3] + '"' in plan.match
    assert '"' + digits[-3:] + '"' in plan.match
    assert " " not in digits and "-" not in plan.match


def test_one_character_queries_match_name_starts() -> None:
    plan = plan_search("张")
    assert plan is not None
    assert plan.match == f'("{NAME_START}张")'
    assert plan.needles == ()
    assert plan_search("Z") == plan_search("z")


def test_two_character_queries_match_term_starts_or_ends() -> None:
    plan = plan_search("zs")
    assert plan is not None
    assert plan.match == f'(("{START}zs" OR "zs{END}"))'
    assert plan.needles == ()
    assert plan_search("ＺＳ") == plan


def test_longer_queries_use_trigrams_and_a_needle() -> None:
    plan = plan_search("zhangsan")
    assert plan is not None
    for trigram in ("zha", "ngs", "san"):
        assert f'"{trigram}"' in plan.match
    assert plan.needles == ("zhangsan",)
    three = plan_search("abc")
    assert three is not None
    assert three.match == '("abc")'
    assert three.needles == ()


def test_words_are_anded_and_quotes_escaped() -> None:
    plan = plan_search("张三 华为 张三")
    assert plan is not None
    assert plan.match.count(" AND ") == 1  # duplicates dropped
    quoted = plan_search('o"brien')
    assert quoted is not None
    assert '"o""b"' in quoted.match


def test_search_columns_hold_name_pinyin_initials_company_and_digits() -> None:
    cols = customer_search_columns(
        {"name": "张三", "company": "上海华为技术有限公司", "mobile": "138 1234 5678"}
    )
    text = cols["search_text"]
    for term in (
        NAME_START + "张三" + END,
        START + "zhangsan" + END,
        NAME_START + "zs" + END,
        START + "华为" + END,
        START + "hw" + END,
        START + "13812345678" + END,
    ):
        assert term in text
    assert "youxiangongsi" not in text  # legal suffixes are not spelled out
    assert cols["name_sort"] == sort_key("张三")
    assert cols["company_sort"] == sort_key("上海华为技术有限公司")


# --- end to end through a replica -------------------------------------------------------

PEOPLE = {
    "张三": {"company": "上海华为技术有限公司", "mobile": "138 1234 5678"},
    "张珊珊": {},
    "李四": {"phone": "010-6666 1234", "city": "北京"},
    "曾国藩": {},
    "单田芳": {},
    "John Smith": {"company": "Acme Trading Co., Ltd.", "email": "john@acme.example"},
}


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Replica]:
    rep = Replica.open(tmp_path)
    try:
        for name, extra in PEOPLE.items():
            rep.customers.create({"name": name, **extra})
        yield rep
    finally:
        rep.close()


def found(replica: Replica, query: str) -> set[str]:
    records = replica.customers.query(search=query)
    names = [r["name"] for r in records]
    assert len(names) == len(set(names)), "a customer was returned twice"
    assert replica.customers.count(search=query) == len(names)
    return set(names)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("张三", {"张三"}),
        ("zhangsan", {"张三"}),
        ("zs", {"张三", "张珊珊"}),  # initials zs and the start of zss
        ("张", {"张三", "张珊珊"}),
        ("z", {"张三", "张珊珊", "曾国藩"}),  # 曾 is also read zeng as a surname
        ("华为", {"张三"}),  # inside the company name
        ("hw", {"张三"}),
        ("huawei", {"张三"}),
        ("上海", {"张三"}),
        ("5678", {"张三"}),
        ("1234", {"张三", "李四"}),
        ("138-1234", {"张三"}),
        ("1381234 5678", {"张三"}),
        ("+86 138 1234 5678", {"张三"}),  # stored without the country code: still found
        ("ＺＳ", {"张三", "张珊珊"}),
        ("ZhangSan", {"张三"}),
        ("ZHANGSAN", {"张三"}),
        ("zhang", {"张三", "张珊珊"}),
        ("zhangshan", {"张珊珊"}),
        ("zgf", {"曾国藩"}),
        ("cgf", {"曾国藩"}),
        ("zengguofan", {"曾国藩"}),
        ("cengguofan", {"曾国藩"}),
        ("stf", {"单田芳"}),  # 单 is shan as a surname
        ("shantianfang", {"单田芳"}),
        ("dtf", {"单田芳"}),
        ("lisi", {"李四"}),
        ("ls", {"李四"}),
        ("北京", {"李四"}),
        ("beijing", {"李四"}),
        ("acme", {"John Smith"}),
        ("ACME trading", {"John Smith"}),
        ("smith", {"John Smith"}),
        ("john", {"John Smith"}),
        ("j", {"John Smith"}),
        # John Smith's initials; 张三's company 上海华为技术 has the inner pair 技术 = js.
        ("js", {"John Smith", "张三"}),
        ("john@acme", {"John Smith"}),
        ("张三 华为", {"张三"}),  # words are ANDed
        ("zs hw", {"张三"}),
        ("张三 acme", set()),
        ("王", set()),
        ("wangwu", set()),
        ("xyzzy", set()),
        ("三", set()),  # one character finds name starts only
        ('"', set()),
        ("*", set()),
        ("NEAR(z s)", set()),
    ],
)
def test_search_finds_exactly_the_right_customers(
    replica: Replica, query: str, expected: set[str]
) -> None:
    assert found(replica, query) == expected


def test_blank_search_lists_everyone_in_pinyin_order(replica: Replica) -> None:
    everyone = [r["name"] for r in replica.customers.query(search="   ")]
    # ceng guo fan, dan tian fang, john smith, li si, zhang san, zhang shan shan
    assert everyone == ["曾国藩", "单田芳", "John Smith", "李四", "张三", "张珊珊"]
    assert [r["name"] for r in replica.customers.query(search=None)] == everyone


def test_search_respects_paging(replica: Replica) -> None:
    first = replica.customers.query(search="z", limit=2)
    rest = replica.customers.query(search="z", limit=2, offset=2)
    assert [r["name"] for r in first] == ["曾国藩", "张三"]
    assert [r["name"] for r in rest] == ["张珊珊"]


def test_search_is_for_customers_only(replica: Replica) -> None:
    with pytest.raises(ValueError, match="customers"):
        replica.deals.query(search="张三")


def test_search_follows_updates_and_deletes(replica: Replica) -> None:
    zhang = replica.customers.query(search="张三")[0]
    change = replica.customers.update(zhang.id, {"name": "王五"})
    assert change.fields == ("name",)
    assert found(replica, "张三") == set()
    assert found(replica, "zhangsan") == set()
    assert found(replica, "zs") == {"张珊珊"}
    assert found(replica, "王五") == {"王五"}
    assert found(replica, "wangwu") == {"王五"}
    assert found(replica, "ww") == {"王五"}
    assert found(replica, "王") == {"王五"}
    # Fields that did not change are still indexed.
    assert found(replica, "华为") == {"王五"}
    assert found(replica, "5678") == {"王五"}

    replica.customers.update(zhang.id, {"company": None, "mobile": "139 0000 1111"})
    assert found(replica, "华为") == set()
    assert found(replica, "5678") == set()
    assert found(replica, "1390000") == {"王五"}
    assert found(replica, "js") == {"John Smith"}

    # An update that changes nothing leaves the index as it was.
    unchanged = replica.customers.update(zhang.id, {"name": "王五"})
    assert unchanged.mutation_id is None
    assert found(replica, "王五") == {"王五"}

    smith = replica.customers.query(search="smith")[0]
    replica.customers.delete(smith.id)
    assert found(replica, "smith") == set()
    assert found(replica, "acme") == set()
    assert found(replica, "js") == set()
    deleted = replica.customers.query(search="smith", include_deleted=True)
    assert [r.id for r in deleted] == [smith.id]
    assert deleted[0].deleted is True

    replica.customers.delete(zhang.id)
    assert found(replica, "王五") == set()
    assert found(replica, "z") == {"张珊珊", "曾国藩"}
    assert replica.check_integrity() == []


def test_integrity_after_creates(replica: Replica) -> None:
    assert replica.check_integrity() == []


# --- property: every generated Chinese name is found by name, pinyin and initials ------

_SURNAMES = [*SURNAMES[:-2], "欧阳"]  # the string ends with the two characters of 欧阳
_NAMES = st.builds(
    lambda surname, given_name: surname + given_name,
    st.sampled_from(_SURNAMES),
    st.text(alphabet=GIVEN, min_size=1, max_size=2),
)


def _reading(name: str) -> list[str]:
    # pypinyin's own segmenter as the reference spelling; ü typed as v.
    return [s.replace("ü", "v") for s in lazy_pinyin(name, style=Style.NORMAL)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_NAMES, min_size=30, max_size=30))
def test_random_chinese_names_are_found_by_name_pinyin_and_initials(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        replica = Replica.open(Path(tmp))
        try:
            ids = [replica.customers.create({"name": n}).record_id for n in names]
            for name, record_id in zip(names, ids, strict=True):
                syllables = _reading(name)
                assert len(syllables) == len(name)
                for query in (name, "".join(syllables), "".join(s[0] for s in syllables)):
                    results = replica.customers.query(search=query, limit=100)
                    assert record_id in {r.id for r in results}, (name, query)
                # A Chinese query finds only names that contain it.
                assert all(name in r["name"] for r in replica.customers.query(search=name))
            assert replica.check_integrity() == []
        finally:
            replica.close()


def test_a_one_character_word_confines_matches_to_name_starts() -> None:
    plan = plan_search("w")
    assert plan is not None and plan.name_prefix
    assert plan.match == f'("{NAME_START}w")'
    for query in ("wa", "wang", "138 1234"):
        found = plan_search(query)
        assert found is not None and not found.name_prefix, query
    both = plan_search("zhang w")
    assert both is not None and both.name_prefix
