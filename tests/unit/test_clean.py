from tasks.clean import clean_documents, decision_rows, normalize
from tasks.config import CleanConfig
from tasks.records import Document, text_id

LONG = " ".join(f"word{i}" for i in range(40))


def doc(text: str, source: str = "site") -> Document:
    return Document(text=text, kind="web", source=source, url=f"http://x/{source}")


def test_normalize_unicode_whitespace_and_controls():
    raw = "Cafe\u0301\x00  costs\t\t3\u00a0euros \r\n\r\n\r\n\n  next line  "
    assert normalize(raw) == "Café costs 3 euros\n\nnext line"


def test_each_drop_has_a_named_reason_and_counts_add_up():
    config = CleanConfig(min_chars=50, min_words=10)
    docs = [
        doc(LONG),
        doc("   \n\t "),
        doc("too short"),
        doc("a" * 60),  # long enough in characters, one word
        doc(LONG.replace("word0", "word0 ") + "  "),  # same text once normalised
    ]
    outcome = clean_documents(docs, config, known_ids=set())
    reasons = [reason for _, reason in outcome.dropped]
    assert reasons == ["empty", "too_short_chars", "too_few_words", "exact_duplicate"]
    assert outcome.counters["seen"] == 5
    assert outcome.counters["kept"] == 1
    assert sum(v for k, v in outcome.counters.items() if k.startswith("dropped_")) == 4
    assert outcome.kept[0].id == text_id(LONG)


def test_threshold_none_turns_a_check_off():
    outcome = clean_documents([doc("short")], CleanConfig(min_chars=None, min_words=None), set())
    assert outcome.counters["kept"] == 1


def test_dedup_against_documents_kept_on_earlier_nights():
    outcome = clean_documents([doc(LONG)], CleanConfig(), known_ids={text_id(LONG)})
    assert [reason for _, reason in outcome.dropped] == ["exact_duplicate"]


def test_decision_rows_keep_every_document_in_order_with_its_reason():
    outcome = clean_documents([doc(LONG), doc("x")], CleanConfig(), set())
    rows = decision_rows(outcome)
    assert [r["reason"] for r in rows] == ["", "too_short_chars"]
    assert rows[1]["text"] == "x"
    assert rows[1]["url"] == "http://x/site"
