from __future__ import annotations

import pytest

from bench.devset import gold_text
from bench.extract import (
    Overlap,
    furniture_snippets,
    gold_snippets,
    overlap,
    plain_markup,
    strip_landmarks,
    tokens,
)


def test_tokens_are_lowercased_words_split_at_punctuation() -> None:
    words = ["use", "os", "urandom", "16", "it", "s", "fast"]

    assert tokens("Use os.urandom(16) — it's ¶ FAST!") == words


def test_overlap_counts_repeated_words_once_per_occurrence() -> None:
    score = overlap("the kiln the kiln menu", "The kiln heats the clay.")

    assert score == Overlap(matched=3, predicted=5, gold=5)  # "the" twice, "kiln" once
    assert (score.precision, score.recall, score.f1) == (0.6, 0.6, pytest.approx(0.6))


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


def test_micro_average_adds_token_counts() -> None:
    assert Overlap(1, 2, 4) + Overlap(3, 3, 4) == Overlap(4, 5, 8)


def test_gold_snippets_are_eight_token_runs_within_one_block() -> None:
    gold = "one two three\n\n" + " ".join(f"w{i}" for i in range(85))

    assert gold_snippets(gold) == [  # a run every 40 tokens; a short block has none
        "w0 w1 w2 w3 w4 w5 w6 w7",
        "w40 w41 w42 w43 w44 w45 w46 w47",
    ]


def test_furniture_snippets_come_from_outside_the_main_landmark_and_not_the_gold() -> None:
    html = (
        "<html><body><div>Quick search box here</div><div>the kiln heats clay</div>"
        "<div role='main'><p>The kiln heats clay slowly.</p></div>"
        "<div>Copyright 2024 the authors</div></body></html>"
    )

    assert furniture_snippets(html, "The kiln heats clay slowly.") == [
        "quick search box here",
        "copyright 2024 the authors",
    ]


def test_strip_landmarks_leaves_plain_divs() -> None:
    html = '<main id="m"><article><div role="main" class="body">x</div></article></main>'

    assert strip_landmarks(html) == '<div id="m"><div><div class="body">x</div></div></div>'


def test_plain_markup_has_no_roles_or_sectioning_tags() -> None:
    html = "<nav role=navigation>a</nav><div role='search'>b</div><footer>c</FOOTER>"

    assert plain_markup(html) == "<div>a</div><div>b</div><div>c</div>"


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
    from tasks.config import TrainConfig

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
