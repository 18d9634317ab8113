from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from bench.extract_sets import SPLIT_FILE, Page, SetMissing, own, rule_side, split, text_blocks

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "bench_pages"


def test_the_own_set_loads_pages_decoded_by_their_meta_charset() -> None:
    blog, news = own(FIXTURE)

    assert (blog.set, blog.id, blog.url, blog.language) == (
        "own",
        "kiln-blog",
        "https://kiln.example/2024/03/firing/",
        "en",
    )
    assert "Firing a café kiln" in blog.html  # windows-1252 bytes, as its <meta> says
    assert blog.gold == "Firing a café kiln\n\nFire it slowly.\n"
    assert (news.id, news.language, news.gold) == (
        "tokyo-news",
        "ja",
        "窯の話\n\n東京で窯を焼く。\n",
    )
    assert "<p>東京で窯を焼く。</p>" in news.html


def test_a_missing_own_set_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(SetMissing, match=r"set 'own': .*index\.json not found"):
        own(tmp_path)
    shutil.copytree(FIXTURE, tmp_path, dirs_exist_ok=True)
    (tmp_path / "tokyo-news" / "gold.txt").unlink()
    with pytest.raises(SetMissing, match="page 'tokyo-news' needs page.html.gz and gold.txt"):
        own(tmp_path)


def test_the_split_rule_is_fixed() -> None:
    # Changing the seed or the hash would move pages between halves: these must not change.
    assert [rule_side("zyte", name) for name in ("a", "b", "c")] == ["test", "tuning", "test"]
    assert rule_side("own", "kiln-blog") == "tuning"


def test_the_committed_split_holds_every_set_about_half_each() -> None:
    recorded = json.loads(SPLIT_FILE.read_text(encoding="utf-8"))

    assert {name: len(sides) for name, sides in recorded.items() if name != "own"} == {
        "readability": 130,
        "sphinx": 219,
        "zyte": 181,
    }
    for sides in recorded.values():
        halves = Counter(sides.values())
        assert set(halves) <= {"tuning", "test"}
        if len(sides) >= 20:
            assert 0.4 < halves["tuning"] / len(sides) < 0.6


def test_a_recorded_page_never_moves_and_a_new_one_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"own": {"kiln-blog": "test"}}))  # the rule says tuning
    pages = [Page("own", name, "<p>x</p>", "x", None, None) for name in ("kiln-blog", "c")]

    sides = split(pages, path)

    assert sides == {("own", "kiln-blog"): "test", ("own", "c"): rule_side("own", "c")}
    assert json.loads(path.read_text()) == {
        "own": {"c": rule_side("own", "c"), "kiln-blog": "test"}
    }
    assert split(pages, path) == sides


def test_readability_expectations_become_text_blocks() -> None:
    html = (
        "<div><h1>Kilns</h1><p>Fire <b>them</b> slowly<br>and  long</p>"
        "<ul><li>clay</li><li>glaze</li></ul><table><tr><th>cone</th><td>6</td></tr></table>"
        "<pre>  fire()\n  cool()</pre><script>var x;</script><!-- note --></div>"
    )

    assert text_blocks(html).split("\n\n") == [
        "Kilns",
        "Fire them slowly\nand long",
        "clay",
        "glaze",
        "cone 6",
        "  fire()\n  cool()",
    ]
