import ftfy
import pytest

from lmkiln.tasks.clean.normalize import FTFY, fix_mojibake, normalize
from lmkiln.tasks.config.clean import NormalizeConfig

OFF = NormalizeConfig(fix_mojibake=False)


def test_clean_text_keeps_its_characters_and_loses_extra_whitespace():
    raw = "Cafe\u0301\x00  costs\t\t3\u00a0euros \r\n\r\n\r\n\n  next line  "
    assert normalize(raw) == "Café costs 3 euros\n\nnext line"
    assert normalize(raw, OFF) == "Café costs 3 euros\n\nnext line"


@pytest.mark.parametrize(
    "text",
    [
        "“Curly quotes” and it’s — dashes – stay.",
        "中文，测试！（括号）",  # full-width punctuation is how Chinese is written
        "ｈｅｌｌｏ ﾊﾝｶｸ",  # so is full width, in Japanese text
        "&lt;b&gt; &amp; are the text of a page about HTML",
        "Ελληνικά, русский, العربية, עברית, हिन्दी, 日本語, 한국어",
        "l’été à Paris: «café» crème",
        "Persian needs the zero-width non-joiner: می\u200cخواهم",
    ],
)
def test_correct_text_is_left_as_it_is(text):
    assert normalize(text) == text


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("cafÃ©", "café"),  # UTF-8 read as Windows-1252
        ("â€œquotedâ€\x9d, itâ€™s", "“quoted”, it’s"),
        ("Ð¿Ñ€Ð¸Ð²ÐµÑ‚", "привет"),  # Russian read as Windows-1252
        ("РїСЂРёРІРµС‚", "привет"),  # Russian read as Windows-1251
        ("doesnÃƒÂ¢Ã¢â€šÂ¬Ã¢â€žÂ¢t", "doesn’t"),  # twice
        ("caf√©", "café"),  # Mac Roman
        ("ﬁne ﬂour", "fine flour"),  # ligatures
        ("wait\x85 what", "wait… what"),  # a C1 byte is a Windows-1252 character
    ],
)
def test_mojibake_is_repaired(broken, fixed):
    assert normalize(broken) == fixed


def test_repair_can_be_turned_off():
    assert normalize("cafÃ©", OFF) == "cafÃ©"
    assert normalize("wait\x85 what", OFF) == "wait what"  # C1 control removed


def test_only_damaged_lines_are_given_to_ftfy_with_the_same_result():
    text = "clean “line” one\ncafÃ© on line two\r\nthird ﬁne line\nlast"
    assert fix_mojibake(text) == ftfy.fix_text(text, FTFY)
    assert fix_mojibake(text) == "clean “line” one\ncafé on line two\nthird fine line\nlast"


def test_controls_invisible_characters_and_line_breaks():
    raw = "\ufeffBOM\x1b[31mred\x1b[0m zero\u200bwidth soft\u00adhyphen\x0bvertical\x0cpage"
    assert normalize(raw) == "BOMred zerowidth softhyphen\nvertical\npage"
    assert normalize("a\u2028b\u2029c\rd") == "a\nb\nc\nd"


def test_spaces_and_blank_lines():
    raw = "  a \u3000 b\u202fc\t\n\n\n\n \t \nd  \n"
    assert normalize(raw) == "a b c\n\nd"
    assert normalize("") == ""
    assert normalize(" \n\t ") == ""


def test_config_is_strict():
    with pytest.raises(ValueError, match="extra"):
        NormalizeConfig(fix_mojibak=False)
