import pytest
from pydantic import ValidationError

from lmkiln.tasks.clean.language import _identifier, identify, language_reason
from lmkiln.tasks.config.clean import LANGUAGES, LanguageConfig


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The quick brown fox jumps over the lazy dog near the river bank.", "en"),
        ("Der schnelle braune Fuchs springt über den faulen Hund am Flussufer.", "de"),
        ("Le renard brun rapide saute par-dessus le chien paresseux près de la rivière.", "fr"),
        ("El rápido zorro marrón salta sobre el perro perezoso junto al río.", "es"),
        ("Быстрая коричневая лиса перепрыгивает через ленивую собаку у реки.", "ru"),
        ("快速的棕色狐狸跳过了河边那只懒惰的狗。", "zh"),
        ("素早い茶色の狐が川辺の怠け者の犬を飛び越えます。", "ja"),
        ("THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG NEAR THE RIVER BANK.", "en"),
    ],
)
def test_identifies_the_language_with_a_high_score(text, lang):
    found, score = identify(text)
    assert found == lang
    assert score >= 0.8


def test_nothing_to_go_on():
    assert identify("") == ("", 0.0)
    assert identify(" \n\t ") == ("", 0.0)


def test_numbers_and_code_get_a_low_score():
    for text in ("12345 678 90 1.5e-3", "x = f(y)[0] + 1; }"):
        assert identify(text)[1] < 0.5


def test_only_the_first_characters_are_read():
    english = "This page is written in plain English for everyone to read. " * 100
    assert identify(english + "Dieser Text ist deutsch. " * 2000)[0] == "en"


def test_reasons():
    config = LanguageConfig(allowed=["en", "de"], min_score=0.5)
    assert language_reason("en", 0.9, config) is None
    assert language_reason("de", 0.5, config) is None
    assert language_reason("fr", 0.9, config) == "language_not_allowed"
    assert language_reason("en", 0.49, config) == "language_low_score"
    assert language_reason("", 0.0, config) == "language_low_score"


def test_null_turns_checks_off():
    assert language_reason("fr", 0.1, LanguageConfig(allowed=None)) is None
    assert language_reason("fr", 0.1, LanguageConfig(allowed=[])) is None
    assert language_reason("en", 0.1, LanguageConfig(min_score=None)) is None
    assert language_reason("fr", 0.1, LanguageConfig(min_score=None)) == "language_not_allowed"


def test_defaults_keep_english_only():
    config = LanguageConfig()
    assert config.allowed == ["en"]
    assert config.min_score == 0.5


def test_unknown_codes_fail_naming_the_fix():
    with pytest.raises(ValidationError, match="Norwegian Bokmål is 'no'"):
        LanguageConfig(allowed=["nb"])
    with pytest.raises(ValidationError, match="'english' is not a language"):
        LanguageConfig(allowed=["english"])
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        LanguageConfig(min_score=1.5)


def test_known_codes_are_the_models_labels():
    assert set(_identifier().labels) == LANGUAGES
