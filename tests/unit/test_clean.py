"""The clean stage's decisions: named reasons, the order they apply in, and what survives."""

from __future__ import annotations

from lmkiln.tasks.clean.decide import Decider, prepare, prepare_all
from lmkiln.tasks.clean.decontam import ValidationNgrams
from lmkiln.tasks.config.clean import CleanConfig
from lmkiln.tasks.config.split import SplitConfig
from lmkiln.tasks.core.records import Document, assign_split

PROSE = (
    "The kiln was fired slowly over the whole night, and the potters took turns to watch the "
    "temperature. By morning the glaze had melted into a smooth, glassy coat that covered "
    "every bowl on the upper shelf. "
)
LONG = PROSE * 3
# Only the per-document rules under test: quality rules have their own tests.
PLAIN = CleanConfig.model_validate({"quality": None, "near_dedup": None})


def doc(text: str, source: str = "site") -> Document:
    return Document(text=text, kind="web", source=source, url=f"http://x/{source}")


def test_each_per_document_rule_has_a_named_reason() -> None:
    config = PLAIN.model_copy(update={"min_chars": 50, "min_words": 10})
    texts = ["   \n\t ", "too short", "a" * 60, "Der Ofen wurde die ganze Nacht langsam " * 8]
    assert [prepare(doc(t), config).reason for t in texts] == [
        "empty",
        "too_short_chars",
        "too_few_words",
        "language_not_allowed",
    ]
    kept = prepare(doc(LONG), config)
    assert kept.reason == "" and kept.doc.lang == "en" and kept.doc.meta["language_score"] > 0.9


def test_pii_is_redacted_before_the_id_so_copies_differing_in_pii_are_duplicates() -> None:
    one = prepare(doc(LONG + "Write to ann@kiln.org."), PLAIN)
    two = prepare(doc(LONG + "Write to bob@pottery.net."), PLAIN)

    assert "<EMAIL>" in one.doc.text and "ann@" not in one.doc.text
    assert one.doc.id == two.doc.id
    assert one.pii == {"email": 1} and one.doc.meta["pii"] == {"email": 1}


def test_a_document_that_is_mostly_pii_is_dropped_as_pii_only() -> None:
    contacts = "\n".join(f"Ann {n}: ann{n}@kiln.org, +44 20 7946 09{n:02d}" for n in range(12))
    dropped = prepare(doc(contacts), PLAIN)
    assert dropped.reason == "pii_only" and dropped.pii == {"email": 12, "phone": 12}
    assert prepare(doc(LONG + "Write to ann@kiln.org."), PLAIN).reason == ""
    keep_all = PLAIN.model_copy(
        update={"pii": PLAIN.pii.model_copy(update={"max_placeholder_share": None})}
    )
    assert prepare(doc(contacts), keep_all).reason != "pii_only"


def test_exact_duplicates_within_a_night_and_across_nights() -> None:
    earlier = prepare(doc(LONG), PLAIN).doc.id
    decider = Decider(PLAIN, SplitConfig(), {earlier}, None, None)
    fresh = LONG.replace("kiln", "oven")
    batch = [prepare(doc(t), PLAIN) for t in (LONG, fresh, fresh + "  ")]

    reasons = [reason for _, reason in decider.decide(batch, first_row=0)]
    assert reasons == ["exact_duplicate", "", "exact_duplicate"]


def test_a_training_document_sharing_text_with_a_validation_document_is_dropped() -> None:
    split = SplitConfig(validation_fraction=0.5)
    candidates = [
        prepare(doc(f"{PROSE} Page number {n} of the kiln log."), PLAIN) for n in range(40)
    ]
    side = {p.doc.id: assign_split(p.doc.id, 0.5, split.salt) for p in candidates}
    val = next(p for p in candidates if side[p.doc.id] == "validation")
    train = next(p for p in candidates if side[p.doc.id] == "train")
    swallows = "Swallows return to the barn each spring, and the farmer writes down the dates. "
    unrelated = prepare(doc(swallows * 4), PLAIN)
    decider = Decider(PLAIN, split, set(), ValidationNgrams(13), None)

    decisions = decider.decide([train, val, unrelated], first_row=0)
    reasons = {d.id: r for d, r in decisions}
    # The validation document joined first: the training one shares all but its last words.
    assert reasons[val.doc.id] == "" and reasons[train.doc.id] == "contaminated"
    assert reasons[unrelated.doc.id] == ""


def test_a_large_night_is_prepared_on_worker_processes_in_input_order(monkeypatch) -> None:
    monkeypatch.setattr("lmkiln.tasks.clean.decide.PARALLEL_FROM_DOCS", 1)
    monkeypatch.setattr("lmkiln.tasks.clean.decide.CHUNK_DOCS", 2)
    config = PLAIN.model_copy(update={"workers": 2})
    docs = [doc(f"{PROSE} Entry {n}: mail kiln{n}@pottery.net.") for n in range(9)]

    parallel = list(prepare_all(iter(docs), config, total=len(docs)))
    serial = [prepare(d, config) for d in docs]
    assert parallel == serial
    assert all("<EMAIL>" in p.doc.text for p in parallel)


def test_synthetic_documents_stay_within_their_share_of_the_corpus() -> None:
    from dataclasses import replace

    capped = PLAIN.model_copy(update={"max_synthetic_share": 0.5})
    decider = Decider(capped, SplitConfig(), set(), None, None, kept=(3, 2))  # 2 of 3 so far

    def batch(kinds: str) -> list:
        texts = [LONG.replace("kiln", f"kiln number {i} {kinds}") for i in range(len(kinds))]
        kind = {"r": "web", "s": "synthetic"}
        return [
            prepare(replace(doc(t), kind=kind[k]), capped)
            for t, k in zip(texts, kinds, strict=True)
        ]

    # Synthetic first, real later in the batch: the real ones are counted first.
    night = [reason for _, reason in decider.decide(batch("sssrr"), first_row=0)]
    assert night == ["", "synthetic_over_cap", "synthetic_over_cap", "", ""]  # 3 of 6
    assert (decider.kept_total, decider.kept_synthetic) == (6, 3)
    later = [reason for _, reason in decider.decide(batch("ssr"), first_row=5)]
    assert later == ["", "synthetic_over_cap", ""]  # 4 of 8
    uncapped = Decider(
        PLAIN.model_copy(update={"max_synthetic_share": None}), SplitConfig(), set(), None, None
    )
    assert [r for _, r in uncapped.decide(batch("ss"), first_row=0)] == ["", ""]
