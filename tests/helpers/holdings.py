"""What a team holds already, as the file and dataset sources read it: a knowledge base of
files with one bad file of each kind, and a few rows of a dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# A dataset's columns: a title, a text (one of them empty) and an id.
ROWS = {
    "headline": ["Rivers", "Bridges", "Empty", "Snow"],
    "body": ["The river rose after rain.", "The bridge was repaired.", "", "Snow closed roads."],
    "id": [1, 2, 3, 4],
}

PARAGRAPH = "The river rose after three days of rain and covered the lower road. " * 3


def write_knowledge_base(root: Path) -> Path:
    """One good file of each type and one bad one of each kind."""
    kb = root / "kb"
    (kb / "guides").mkdir(parents=True)
    (kb / "notes.txt").write_text(PARAGRAPH, encoding="utf-8")
    (kb / "guides" / "setup.md").write_text(f"# Setting up\n\n{PARAGRAPH}", encoding="utf-8")
    (kb / "guides" / "page.html").write_text(
        f"<html><head><title>Bridges</title></head><body><nav>Home | About</nav>"
        f"<main><p>{PARAGRAPH}</p></main></body></html>",
        encoding="utf-8",
    )
    lines = [
        json.dumps({"body": PARAGRAPH, "id": 7, "topic": "rivers", "link": "https://ex.org/7"}),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"id": 9}),
        json.dumps({"body": 42}),
        json.dumps({"body": "   "}),
        "",
    ]
    (kb / "records.jsonl").write_bytes("\n".join(lines).encode() + b"\n\xff\xfe\n")
    table = pa.table({"body": [PARAGRAPH, f"Second row. {PARAGRAPH}"], "topic": ["a", "b"]})
    pq.write_table(table, kb / "table.parquet")
    whole = (kb / "table.parquet").read_bytes()
    (kb / "cut.parquet").write_bytes(whole[: len(whole) // 2])
    pq.write_table(pa.table({"content": ["x"]}), kb / "wrong.parquet")
    (kb / "latin.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (kb / "empty.md").write_text("\n\n", encoding="utf-8")
    (kb / "big.txt").write_text("x" * 2000, encoding="utf-8")
    (kb / "logo.png").write_bytes(b"\x89PNG")
    return kb
