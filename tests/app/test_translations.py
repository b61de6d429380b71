"""Every user-visible text has a zh_CN translation, and the translation is used."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QTranslator

from app import i18n, labels
from sync.schema import ENTITIES

ROOT = Path(__file__).resolve().parents[2]
TS_FILE = ROOT / "resources" / "translations" / "outpost_zh_CN.ts"


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.fail(f"{name} is missing: it comes with PySide6")
    return found


def _messages(ts: Path) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(context, source) → (translation, its type attribute)."""
    found: dict[tuple[str, str], tuple[str, str | None]] = {}
    for context in ET.parse(ts).getroot().iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            source = message.findtext("source") or ""
            translation = message.find("translation")
            assert translation is not None
            found[(name, source)] = (translation.text or "", translation.get("type"))
    return found


def test_schema_labels_and_choices_all_have_entries() -> None:
    field_labels = labels._field_labels()
    choice_labels = labels._choice_labels()
    for spec in ENTITIES.values():
        for field in spec.fields:
            assert field.label in field_labels, f"no entry for the label {field.label!r}"
            for choice in field.choices:
                assert (field.name, choice) in choice_labels, (field.name, choice)


def test_every_source_text_has_a_finished_translation(tmp_path: Path) -> None:
    extracted = tmp_path / "extracted.ts"
    sources = sorted(str(p) for p in (ROOT / "app").glob("*.py"))
    subprocess.run(
        [_tool("pyside6-lupdate"), "-silent", *sources, "-ts", str(extracted)],
        check=True,
        timeout=120,
    )
    wanted = _messages(extracted)
    assert len(wanted) > 100  # the extraction found the app's texts
    committed = _messages(TS_FILE)
    missing = sorted(key for key in wanted if key not in committed)
    unfinished = sorted(
        key
        for key in wanted
        if key in committed and (not committed[key][0].strip() or committed[key][1])
    )
    assert not missing, f"run `make translations-update` and translate: {missing[:10]}"
    assert not unfinished, f"untranslated in {TS_FILE.name}: {unfinished[:10]}"
    # Placeholders survive translation ({count}, {reason}, ...).
    for (context, source), (translation, _) in committed.items():
        if (context, source) in wanted:
            for token in _placeholders(source):
                assert token in translation, (context, source, translation)


def _placeholders(text: str) -> set[str]:
    import re

    return set(re.findall(r"\{[a-z_]+\}", text))


def test_the_translation_compiles_and_is_used(qapp: QCoreApplication, tmp_path: Path) -> None:
    qm = tmp_path / "outpost_zh_CN.qm"
    subprocess.run(
        [_tool("pyside6-lrelease"), "-silent", str(TS_FILE), "-qm", str(qm)],
        check=True,
        timeout=120,
    )
    translator = QTranslator()
    assert translator.load(str(qm))
    qapp.installTranslator(translator)
    try:
        assert labels.field_label("customer", "name") != "Name"
        assert labels.choice_label("status", "lead") != "Lead"
        assert QCoreApplication.translate("MainWindow", "Customers") == "客户"
    finally:
        qapp.removeTranslator(translator)
    assert labels.field_label("customer", "name") == "Name"


def test_language_preference_resolution() -> None:
    from PySide6.QtCore import QLocale

    assert i18n.resolve_language("zh_CN") == "zh_CN"
    assert i18n.resolve_language("en") == "en"
    assert i18n.resolve_language("system", QLocale(QLocale.Language.Chinese)) == "zh_CN"
    assert i18n.resolve_language("system", QLocale(QLocale.Language.German)) == "en"
