from __future__ import annotations

import pytest

from bench.devset import gold_text
from bench.extract_metrics import (
    Overlap,
    Shingles,
    micro_scores,
    overlap,
    shingle_scores,
    shingles,
    tokens,
    word_scores,
)


def test_tokens_are_lowercased_words_split_at_punctuation() -> None:
    words = ["use", "os", "urandom", "16", "it", "s", "fast"]

    assert tokens("Use os.urandom(16) — it's ¶ FAST!") == words


def test_unspaced_scripts_are_one_token_per_character() -> None:
    assert tokens("東京は2024年に、Kiln窯。") == [
        "東",
        "京",
        "は",
        "2024",
        "年",
        "に",
        "kiln",
        "窯",
    ]
    assert tokens("ภาษาไทย ok") == ["ภ", "า", "ษ", "า", "ไ", "ท", "ย", "ok"]
    assert tokens("한국어 텍스트") == ["한", "국", "어", "텍", "스", "트"]
    assert tokens("カタカナー ｶﾅ") == ["カ", "タ", "カ", "ナ", "ー", "ｶ", "ﾅ"]


def test_overlap_counts_repeated_words_once_per_occurrence() -> None:
    score = overlap("the kiln the kiln menu", "The kiln heats the clay.")

    assert score == Overlap(matched=3, predicted=5, gold=5)  # "the" twice, "kiln" once
    assert (score.precision, score.recall, score.f1) == (0.6, 0.6, pytest.approx(0.6))


def test_overlap_of_japanese_counts_characters() -> None:
    score = overlap("東京の窯。ログイン", "東京で窯を焼く。")

    # output: 東 京 の 窯 ロ グ イ ン (8), gold: 東 京 で 窯 を 焼 く (7); 東 京 窯 in both
    assert score == Overlap(matched=3, predicted=8, gold=7)


@pytest.mark.parametrize(
    ("predicted", "gold", "precision", "recall", "f1"),
    [
        ("", "some text", 0.0, 0.0, 0.0),  # nothing extracted
        ("some text", "", 0.0, 1.0, 0.0),  # an empty page, text invented
        ("", "", 1.0, 1.0, 1.0),
        ("Same, words.", "same words", 1.0, 1.0, 1.0),  # punctuation and case do not count
    ],
)
def test_overlap_edge_cases(
    predicted: str, gold: str, precision: float, recall: float, f1: float
) -> None:
    score = overlap(predicted, gold)

    assert (score.precision, score.recall, score.f1) == (precision, recall, f1)


def test_word_scores_average_pages_and_micro_scores_add_tokens() -> None:
    pages = [Overlap(1, 2, 2), Overlap(4, 4, 4)]  # F1 0.5 and 1.0

    assert word_scores(pages).f1 == 0.75
    assert micro_scores(pages).f1 == pytest.approx(5 / 6)
    assert Overlap(1, 2, 4) + Overlap(3, 3, 4) == Overlap(4, 5, 8)


def test_shingles_are_four_token_runs_shared_as_shares_of_all() -> None:
    score = shingles("a b c d e", "a b c d f")  # (a b c d) in both, (b c d e), (b c d f) not

    assert (score.tp, score.fp, score.fn) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert (score.precision, score.recall) == pytest.approx((0.5, 0.5))


def test_shingles_keep_case_and_short_texts_are_one_shingle() -> None:
    assert shingles("Kiln fired", "Kiln fired") == Shingles(1.0, 0.0, 0.0)
    assert shingles("the kiln", "The kiln") == Shingles(0.0, 0.5, 0.5)  # as in evaluate.py
    assert shingles("窯を焼く", "窯を焼く") == Shingles(1.0, 0.0, 0.0)  # 窯 を 焼 く


def test_shingle_scores_follow_the_zyte_evaluation() -> None:
    matched = shingles("a b c d", "a b c d")
    no_output = shingles("", "a b c d")  # costs recall only
    both_empty = shingles("", "")  # counts for neither
    invented = shingles("a b c d", "")  # costs precision only

    assert (no_output.precision, no_output.recall) == (0.0, 0.0)
    assert (both_empty.precision, both_empty.recall) == (1.0, 1.0)
    scores = shingle_scores([matched, no_output, both_empty])
    assert (scores.precision, scores.recall) == (1.0, 0.5)
    assert scores.f1 == pytest.approx(2 / 3)
    assert shingle_scores([matched, invented]).precision == 0.5
    assert shingle_scores([no_output]).precision == 0.0


SOURCE = """\
:orphan:

.. _kilns:

Kilns
=====

.. index:: kiln
.. module:: pottery

A *kiln* heats :func:`~pottery.fire` (see :ref:`kilns`, :doc:`glaze`, :pep:`8`),
`the guide <https://x.test>`_ and |maker|\\ s [#]_.

.. |maker| replace:: Clay Co

.. note:: Wear gloves.

.. code-block:: python
   :caption: fire.py

   def fire():
       pass

* one item
* two ``*literal*``

+-----+-------+
| a   | b     |
+=====+=======+
| 1   | **2** |
+-----+-------+

.. function:: fire(kiln)

   Fires it.

   :param kiln: the kiln

.. versionadded:: 3.2

.. toctree::
   :hidden:

   glaze

..
   a comment
   that renders nothing

Literal follows::

    raw *text* :func:`x`

.. [#] A footnote.
"""


def test_gold_text_is_what_the_reader_sees_of_the_source() -> None:
    gold, title = gold_text({"index": SOURCE, "glaze": "Glazes\n======\n\nText.\n"}, "index")

    assert title == "Kilns"
    assert gold.split("\n\n") == [
        "Kilns",
        "A kiln heats fire (see Kilns, Glazes, PEP 8), the guide and Clay Cos.",
        "Note Wear gloves.",
        "fire.py",
        "def fire():\n    pass",
        "one item",
        "two *literal*",
        "a   | b",
        "1   | 2",
        "pottery.fire(kiln)",
        "Fires it.",
        "Parameters",
        "kiln",
        "the kiln",
        "New in version 3.2",
        "Literal follows:",
        "raw *text* :func:`x`",
        "A footnote.",
    ]


def test_the_training_benchmarks_reference_pieces() -> None:
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config

    from bench.training import Chars, _char_bpb, linear_warmup, reference_loop
    from lmkiln.tasks.config.train import TrainConfig

    rate = linear_warmup(TrainConfig(learning_rate=1e-3, warmup_steps=10), steps=110)
    assert (rate(0), rate(5), rate(60), rate(110)) == pytest.approx((0.0, 5e-4, 5e-4, 0.0))

    chars = Chars(["abc", "cab"])
    assert chars.encode("cabz") == [3, 1, 2, 0]  # an unseen character is the separator id
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_head=1, n_embd=16, n_positions=8, vocab_size=4)
    model = AutoModelForCausalLM.from_config(config)
    text = torch.tensor([[0, 1, 2, 3, 1, 2, 3, 1]])  # a document: separator, then "abcabca"
    losses = reference_loop(model, lambda _: text, 30, lambda _: 1e-2, 0.0)
    assert losses[-1] < losses[0] / 2  # it learns the repeated pattern
    assert 0 < _char_bpb(model, chars, ["abcabca"], block=8) < 1  # uniform over 4 ids: 2 bits


def test_the_gpu_throughput_script_runs_on_a_cpu(capsys) -> None:
    from bench.gpu_training import main, peak_flops

    main(["--size", "tiny", "--block", "32", "--batch", "2", "--steps", "2", "--warmup", "1"])
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| device") and len(table) == 3
    assert "| tiny | 32 x 2 | False |" in table[2]
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12 and peak_flops("a CPU") is None
