"""Keys from custom_ids: safe whatever the input, deterministic, collision-free."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from airflow_provider_scrapingpros.export.keys import KeyAllocator, extension_for, slugify
from airflow_provider_scrapingpros.export.layouts import SIDE_SUFFIXES

SAFE_SEGMENT = re.compile(r"^\w[\w.\-]*$")


@pytest.mark.parametrize(
    ("custom_id", "expected"),
    [
        ("order-123_v2.final", "order-123_v2.final"),  # already safe: kept verbatim
        ("shop/fr/item-1", "shop/fr/item-1"),  # folders are fine
        ("日本語/ページ", "日本語/ページ"),
        ("../../etc/passwd", "etc/passwd.3754d6cb"),
        ("/abs/path", "abs/path.6d80187b"),
        ("a b", "a_b.c8687a08"),
        ("_SUCCESS", "SUCCESS.c2adf567"),
        ("CON", "xCON.a3dbc4b6"),
        ("foo.extracted", "foo.extracted.4e5c1fe7"),  # would collide with foo's side object
        ("..", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_slugify(custom_id: str | None, expected: str) -> None:
    assert slugify(custom_id) == expected


def test_long_ids_fit_file_systems_and_stay_distinct() -> None:
    long_a, long_b = "x" * 300, "x" * 299 + "y"
    assert slugify(long_a) != slugify(long_b)
    for text in (long_a, "é" * 255, "🚀" * 255, "/".join(["seg" * 50] * 20)):
        stem = slugify(text)
        assert max(len(s.encode()) for s in stem.split("/")) <= 130 and len(stem.encode()) <= 710


def test_random_garbage_always_gives_safe_unique_keys() -> None:
    rng = random.Random(5)
    alphabet = "aZ09._-/\\ ?*<>|:\"'%#~\x00\t\n é日🚀\u0301\u202e"
    ids = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    ids += ids[:300]  # duplicates
    allocator = KeyAllocator()
    stems = [allocator.allocate(cid, f"job-{i:05d}") for i, cid in enumerate(ids)]
    assert len({s.casefold() for s in stems}) == len(stems)
    for stem in stems:
        assert unicodedata.is_normalized("NFC", stem) and not stem.startswith(("/", ".", "_", "-"))
        assert all(SAFE_SEGMENT.match(seg) and seg not in (".", "..") for seg in stem.split("/")), stem
        # `<stem>.<suffix>` of one job can never equal another job's key
        assert stem.rsplit(".", 1)[-1].lower() not in {s.split(".")[0] for s in SIDE_SUFFIXES.values()}
    # same order in, same keys out: a resumed export rebuilds the allocator from its manifest
    again = KeyAllocator()
    assert [again.allocate(cid, f"job-{i:05d}") for i, cid in enumerate(ids)] == stems
    resumed = KeyAllocator(stems[:1000])
    assert [resumed.allocate(cid, f"job-{i:05d}") for i, cid in enumerate(ids)][1000:] == stems[1000:]


def test_collisions_resolve_in_export_order() -> None:
    allocator = KeyAllocator()
    assert [allocator.allocate(c, j) for c, j in [("a", "J1"), ("a", "J2"), ("A", "J3"), ("a.J2", "J4")]] == [
        "a",
        "a.J2",
        "A.J3",
        "a.J2.J4",
    ]
    assert allocator.allocate(None, "J5") == "J5" and allocator.allocate("J5", "J6") == "J5.J6"


def test_extensions_come_from_a_fixed_table() -> None:
    assert extension_for("application/pdf") == "pdf"
    assert extension_for("IMAGE/PNG; charset=binary") == "png"
    assert extension_for("application/x-unknown") == "bin" and extension_for(None) == "bin"


def test_fast_path_for_plain_ids_agrees_with_the_general_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """`slugify` returns plain ASCII ids without running the general rules; on 20,000 random ids
    built to sit on the edges of those rules, both paths give the same stem."""
    from airflow_provider_scrapingpros.export import keys

    rng = random.Random(7)
    alphabet = "aZ09._-/\\ é"
    edges = ["con", "NUL.txt", "a.job", "x.EXTRACTED", "item-1", "a.", "-a", "a" * 120, "a" * 121, "a..b"]
    ids = [rng.choice(edges) if rng.random() < 0.2 else "" for _ in range(20_000)]
    ids = [i or "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 125))) for i in ids]
    fast = [slugify(i) for i in ids]
    monkeypatch.setattr(keys, "_PLAIN", re.compile(r"(?!)"))  # never matches: general rules only
    assert [slugify(i) for i in ids] == fast
    assert sum(keys._PLAIN.fullmatch(i) is None for i in ids) == len(ids)
    monkeypatch.undo()
    assert sum(keys._PLAIN.fullmatch(i) is not None for i in ids) > 2_000  # the fast path was taken
