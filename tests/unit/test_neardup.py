import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lmkiln.tasks.clean.dedup.index import NearDupIndex, index_path
from lmkiln.tasks.clean.dedup.minhash import MinHasher, Normalisation
from lmkiln.tasks.config.clean import NearDedupConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import LakeRef, text_id
from tests.helpers.neardup import CONFIG, VOCABULARY, batch, duplicate_of, night, text


def substitute(original: str, share: float, seed: int) -> str:
    rng = random.Random(seed)
    words = original.split(" ")
    for i in rng.sample(range(len(words)), max(1, round(share * len(words)))):
        words[i] = rng.choice(VOCABULARY)
    return " ".join(words)


@pytest.fixture
def index(tmp_path):
    with NearDupIndex.open(tmp_path / "index.sqlite", CONFIG, None) as opened:
        yield opened


def test_exact_copies_and_header_footer_copies_are_duplicates_of_the_first(index):
    base = text(1)
    framed = f"Home | Docs | Blog | Sign in\n{base}\nCopyright 2024 Example. All rights reserved."
    results = index.check(batch([base, base, framed]))
    assert duplicate_of(results) == [None, text_id(base), text_id(base)]
    assert results[1].similarity == 1.0 and results[1].row == 0


def test_three_percent_substitutions_are_caught(index):
    bases = [text(seed) for seed in range(40)]
    copies = [substitute(b, 0.03, seed) for seed, b in enumerate(bases)]
    results = index.check(batch(bases + copies))
    assert duplicate_of(results) == [None] * 40 + [text_id(b) for b in bases]


def test_unrelated_documents_and_half_copies_are_kept(index):
    unrelated = [text(seed) for seed in range(100, 300)]
    halves = [
        t[: len(t) // 2] + text(seed + 1000)[len(t) // 2 :] for seed, t in enumerate(unrelated)
    ]
    assert duplicate_of(index.check(batch(unrelated + halves))) == [None] * 400


def test_the_first_seen_wins_within_a_batch_whichever_copy_it_is(index):
    base = text(2)
    edited = substitute(base, 0.02, 5)
    results = index.check(batch([edited, text(3), base, substitute(base, 0.03, 6)]))
    assert duplicate_of(results) == [None, None, text_id(edited), text_id(edited)]


def test_normalisation_ignores_case_punctuation_accents_and_numbers(index):
    base = text(4) + " Café costs 3.50 euros in 2024."
    variant = base.upper().replace(".", " ;").replace("É", "E").replace("2024", "2025")
    assert duplicate_of(index.check(batch([base, variant]))) == [None, text_id(base)]


def test_rows_must_increase_and_the_table_must_hold_them_before_commit(index):
    index.check(batch([text(5)], start=3))
    with pytest.raises(ValueError, match="rows must increase"):
        index.check(batch([text(6)], start=3))
    with pytest.raises(ValueError, match="commit the table's rows first"):
        index.commit(LakeRef("clean", "c1", rows=3))


def test_a_near_copy_on_a_later_night_is_caught_against_the_persisted_index(tmp_path):
    table = str(tmp_path / "clean")
    first = [text(seed) for seed in range(10, 20)]
    assert night(table, first)[0] == [None] * 10
    second = [substitute(first[3], 0.03, 1), text(50), first[7] + "\nShare this page."]
    assert night(table, second)[0] == [text_id(first[3]), None, text_id(first[7])]
    with NearDupIndex.open(index_path(table), CONFIG, lake.head(table)) as index:
        assert len(index) == 11
        assert index.covered[0] == 13


def test_a_crash_after_the_table_commit_is_reindexed_from_the_table(tmp_path):
    table = str(tmp_path / "clean")
    night(table, [text(seed) for seed in range(20, 25)])
    tail = [text(seed) for seed in range(25, 30)]
    _, ref = night(table, tail, commit=False)  # the process dies before index.commit
    with NearDupIndex.open(index_path(table), CONFIG, lake.head(table)) as index:
        assert index.covered == (ref.rows, ref.commit)
        assert len(index) == 10
    assert night(table, [substitute(tail[2], 0.03, 2)])[0] == [text_id(tail[2])]


def test_an_index_committed_past_the_table_drops_the_rows_the_table_lacks(tmp_path):
    table = str(tmp_path / "clean")
    first = [text(seed) for seed in range(30, 35)]
    night(table, first)
    lost = [text(seed) for seed in range(35, 40)]
    with NearDupIndex.open(index_path(table), CONFIG, lake.head(table)) as index:
        index.check(batch(lost, start=5))
        index.commit(LakeRef(table, "never-committed", rows=10))  # the table's commit failed
    with NearDupIndex.open(index_path(table), CONFIG, lake.head(table)) as index:
        assert index.covered[0] == 5 and len(index) == 5
    found, _ = night(table, [lost[0], substitute(first[0], 0.03, 3)])
    assert found == [None, text_id(first[0])]


def test_uncommitted_checks_leave_no_trace(tmp_path):
    table = str(tmp_path / "clean")
    night(table, [text(40)])
    with NearDupIndex.open(index_path(table), CONFIG, lake.head(table)) as index:
        index.check(batch([text(41)], start=1))  # then an exception ends the run
    assert night(table, [text(41)])[0] == [None]


def test_other_settings_or_a_replaced_table_rebuild_the_index(tmp_path):
    table = str(tmp_path / "clean")
    kept = [text(seed) for seed in range(60, 64)]
    night(table, kept)
    reseeded = CONFIG.model_copy(update={"seed": 1})
    assert night(table, [substitute(kept[1], 0.03, 4)], reseeded)[0] == [text_id(kept[1])]
    with NearDupIndex.open(index_path(table), reseeded, lake.head(table)) as index:
        index.rebuild(lake.head(table))
        assert len(index) == 4 and index.covered[0] == 5
    shutil.rmtree(table)
    night(table, [text(70)], reseeded)  # a new table: the old documents are gone
    assert night(table, [kept[0]], reseeded)[0] == [None]


def test_min_similarity_null_lets_the_bands_decide(tmp_path):
    config = NearDedupConfig(min_similarity=None, bands=14, rows_per_band=8, shingle_words=5)
    with NearDupIndex.open(tmp_path / "i.sqlite", config, None) as index:
        base = text(80)
        found = index.check(batch([base, base + "\nOne more line here.", text(81)]))
        assert duplicate_of(found) == [None, text_id(base), None]


def test_signatures_estimate_jaccard_and_the_curve_matches_its_formula():
    hasher = MinHasher(3, 32, 4, 0, Normalisation())
    base = text(90, words=600)
    copies = [base, substitute(base, 0.03, 1), substitute(base, 0.2, 2), text(91, words=600)]
    signatures = hasher.signatures(copies)
    shingles = [set(hasher.shingles(t).tolist()) for t in copies]
    for other, signature in zip(shingles[1:], signatures[1:], strict=True):
        exact = len(shingles[0] & other) / len(shingles[0] | other)
        assert abs((signature == signatures[0]).mean() - exact) < 0.15
    assert hasher.signatures(["", "a b"]).shape == (2, 128)
    # Pairs of signatures equal at a share s of positions share a band key with chance
    # 1 - (1 - s^rows)^bands: near 1 at s=0.7, about 0.23 at s=0.3 with 32 bands of 4.
    rng = np.random.default_rng(0)
    for s in (0.3, 0.7):
        first = rng.integers(0, 2**32, size=(4000, 128), dtype=np.uint32)
        second = np.where(rng.random(first.shape) < s, first, first ^ 1)
        shared = (hasher.band_keys(first) == hasher.band_keys(second)).any(axis=1).mean()
        assert abs(shared - (1 - (1 - s**4) ** 32)) < 0.03, s


def test_decisions_do_not_depend_on_batch_boundaries(tmp_path):
    texts = []
    for seed in range(100, 130):
        texts += [text(seed), substitute(text(seed - 3), 0.03, seed)]
    with NearDupIndex.open(tmp_path / "one.sqlite", CONFIG, None) as whole:
        together = duplicate_of(whole.check(batch(texts)))
    with NearDupIndex.open(tmp_path / "many.sqlite", CONFIG, None) as split:
        apart = [duplicate_of(split.check(batch([t], start=i)))[0] for i, t in enumerate(texts)]
    assert together == apart
    assert sum(found is not None for found in together) == 27


def test_a_killed_process_leaves_an_index_that_catches_up_with_the_table(tmp_path):
    table = str(tmp_path / "clean")
    night(table, [text(seed) for seed in range(140, 143)])
    crash = (
        "import os, sys\n"
        "from tests.helpers.neardup import night, text\n"
        "night(sys.argv[1], [text(143), text(144)], commit=False, die=True)\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", crash, table], check=False, cwd=root)
    assert result.returncode == 9
    assert lake.head(table).rows == 5
    assert night(table, [substitute(text(144), 0.03, 5)])[0] == [text_id(text(144))]


def test_an_index_of_a_table_made_again_with_as_many_rows_is_rebuilt(tmp_path):
    table = str(tmp_path / "clean")
    old = [text(seed) for seed in range(150, 154)]
    night(table, old)
    shutil.rmtree(table)
    new = [text(seed) for seed in range(160, 166)]
    rows = [{"id": text_id(t), "text": t, "reason": ""} for t in new]
    head = lake.append(table, rows, lake.CLEAN_TABLE, "cleaned without the index")
    with NearDupIndex.open(index_path(table), CONFIG, head) as index:
        assert len(index) == 6 and index.covered == (6, head.commit)
    assert night(table, [old[0], new[5]])[0] == [None, text_id(new[5])]
