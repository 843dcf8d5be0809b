#!/usr/bin/env python3
"""Baseline for `custodia bench detect --presidio PYTHON`: Microsoft Presidio's
AnalyzerEngine over the same mixed Chinese/English text, in ~4 KiB documents,
one thread.

spaCy's trained models are not on PyPI (and this machine has no other
network), so Presidio runs with a blank English spaCy pipeline: its pattern
recognizers (e-mail, phone, credit card, IBAN, SSN, IP, URL, ...) and
context words run, its NER does not. NER is the slow part of Presidio, so
this figure is an upper bound on Presidio's speed.

Usage: python bench-presidio.py TEXT_FILE MEGABYTES
Prints one JSON line: {"bytes": N, "seconds": S, "findings": F}.
Setup: python3 -m venv V && V/bin/pip install presidio-analyzer
"""
import json
import logging
import sys
import tempfile
import time

logging.disable(logging.CRITICAL)

import spacy  # noqa: E402
from presidio_analyzer import AnalyzerEngine  # noqa: E402
from presidio_analyzer.nlp_engine import NlpEngineProvider  # noqa: E402


def main():
    path, megabytes = sys.argv[1], float(sys.argv[2])
    text = open(path, encoding="utf-8").read()
    limit = int(megabytes * 1_000_000)
    docs, size, start = [], 0, 0
    while start < len(text) and size < limit:
        end = min(start + 4096, len(text))
        nl = text.find("\n", end)
        end = len(text) if nl < 0 else nl + 1
        docs.append(text[start:end])
        size += len(text[start:end].encode("utf-8"))
        start = end
    model = tempfile.mkdtemp()
    spacy.blank("en").to_disk(model)
    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    engine = AnalyzerEngine(
        nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine(),
        supported_languages=["en"],
    )
    engine.analyze(text="warm up 13800138000 zw@example.com", language="en")
    t = time.perf_counter()
    findings = sum(len(engine.analyze(text=d, language="en")) for d in docs)
    print(json.dumps({"bytes": size, "seconds": time.perf_counter() - t, "findings": findings}))


if __name__ == "__main__":
    main()
