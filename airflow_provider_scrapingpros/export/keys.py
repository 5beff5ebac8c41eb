"""Object keys from `custom_id`s: safe on every object store and file system, and deterministic.

A `custom_id` is user data (up to 255 characters of anything), so it is never used as a key verbatim
unless it already is a safe key. The rules, per `/`-separated segment:

* NFC-normalised; characters other than (unicode) letters, digits, `-`, `_` and `.` become `_`;
  segments `.`/`..`/empty are dropped, so no key climbs out of the destination or starts with `/`;
* leading `.`, `_`, `-` are stripped: `_`-names are reserved for the export's own files
  (`_manifest.jsonl`, `_SUCCESS.json`, `_export/`), dot-files are hidden, `-x` reads as an option;
* trailing `.` is stripped and Windows device names (`CON`, `NUL`, …) are avoided;
* each segment is at most 120 UTF-8 bytes (file systems allow 255 per name; room for suffixes) and
  the whole stem at most 700 bytes (S3 allows 1,024);
* a stem may not end in one of the side-object words (`.extracted`, `.job`, …), so `<stem>.<suffix>`
  keys of two different stems can never coincide.

If any rule changed the id, the stem gets `.<8 hex of sha256(custom_id)>`: two different ids that
clean up to the same text still get different keys, independent of the order they arrive in.

Collisions that remain are resolved by `KeyAllocator` in export order: the same `custom_id` on
several jobs, ids differing only in case (one name on case-insensitive file systems), and a folder
of one stem named like an object key of another (`a` writes `a.html`, `a.html/b` needs a folder
`a.html`: one of them fails with IsADirectoryError on a file system). The first job keeps its stem;
a later one gets `.<job id>`, and when its folders are what collides, its job id alone. Export
order is `completed_at` order, which is fixed once jobs are terminal, so a resumed or following
export picks the same keys as a clean one.
The allocator remembers an 8-byte digest per used stem (the only per-job memory the export keeps),
plus one per folder that is named like an object key (`x.html/`, rare).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator

# Side objects beside a job's body (layouts.py writes them): `<stem>.<suffix>`.
SIDE_SUFFIXES = {
    "extracted_data": "extracted.json",
    "screenshot": "screenshot.png",
    "network_requests": "network.json",
    "metadata": "job.json",
}
SIDE_WORDS = frozenset(suffix.split(".", 1)[0] for suffix in SIDE_SUFFIXES.values())
_MAX_SEGMENT_BYTES = 120
_MAX_STEM_BYTES = 700
# Windows reserves the superscript digits too: `COM¹`, `LPT³` open devices like `COM1`.
_DEVICE_DIGITS = [*"123456789", "\u00b9", "\u00b2", "\u00b3"]
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", *(f"{port}{d}" for port in ("com", "lpt") for d in _DEVICE_DIGITS)}
)
_UNSAFE_RUN = re.compile(r"[^\w.\-]+")  # \w is unicode-aware: letters, digits, underscore
# One ASCII segment that no rule changes: starts with a letter or digit, no trailing dot, fits.
_PLAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.\-]{0,118}[A-Za-z0-9_\-])?")

# Extensions for binary bodies, by MIME type. A fixed table, not `mimetypes`: that one reads the
# machine's /etc/mime.types, and keys must not change between workers.
BINARY_EXTENSIONS = {
    "application/pdf": "pdf",
    "application/json": "json",
    "application/xml": "xml",
    "application/zip": "zip",
    "application/gzip": "gz",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/svg+xml": "svg",
    "text/csv": "csv",
    "text/plain": "txt",
    "text/html": "html",
    "audio/mpeg": "mp3",
    "video/mp4": "mp4",
}


# Every suffix an object key can end with after `<stem>.`, lower case.
FILE_SUFFIXES = frozenset({"html", "md", "bin", *BINARY_EXTENSIONS.values(), *SIDE_SUFFIXES.values()})


def extension_for(content_type: str | None) -> str:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return BINARY_EXTENSIONS.get(mime, "bin")


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", "ignore")


def _is_device(segment: str) -> bool:
    return segment.split(".", 1)[0].lower() in _WINDOWS_DEVICES


def _ends_with_side_word(stem: str) -> bool:
    return stem.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower() in SIDE_WORDS


def _clean_segment(segment: str) -> str:
    cleaned = _UNSAFE_RUN.sub("_", segment).lstrip("._-").rstrip(".")
    if _is_device(cleaned):
        cleaned = f"x{cleaned}"
    return _truncate_utf8(cleaned, _MAX_SEGMENT_BYTES).rstrip(".")


def slugify(custom_id: str | None) -> str:
    """The safe stem for a custom_id, or "" when nothing usable is left (then the job id is used)."""
    if not custom_id:
        return ""
    # Typical ids (`item-000123`, `sku_42.v2`) pass every rule unchanged; skipping the general path
    # halves the export's per-job key cost.
    if _PLAIN.fullmatch(custom_id) and not _is_device(custom_id) and not _ends_with_side_word(custom_id):
        return custom_id
    text = unicodedata.normalize("NFC", custom_id)
    segments = [_clean_segment(s) for s in re.split(r"[/\\]", text) if s not in ("", ".", "..")]
    stem = "/".join(s for s in segments if s)
    stem = _truncate_utf8(stem, _MAX_STEM_BYTES).rstrip("/.")
    if not stem:
        return ""
    if stem != custom_id or _ends_with_side_word(stem):
        stem = f"{stem}.{hashlib.sha256(custom_id.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    return stem


def _stem_digest(stem: str) -> bytes:
    # casefold: `A` and `a` are one file on case-insensitive file systems (macOS, Windows)
    return hashlib.blake2b(stem.casefold().encode("utf-8"), digest_size=8).digest()


def _key_like_folders(stem: str) -> Iterator[str]:
    """For each folder of `stem` named like an object key (`<x>.<suffix>`), the `<x>` it names."""
    parts = stem.split("/")
    for depth in range(1, len(parts)):
        folder = "/".join(parts[:depth])
        segment = parts[depth - 1]
        for dot in (i for i, char in enumerate(segment) if char == "."):
            if segment[dot + 1 :].lower() in FILE_SUFFIXES:
                yield folder[: len(folder) - len(segment) + dot]


class KeyAllocator:
    def __init__(self, used: Iterable[str] = ()) -> None:
        self._used: set[bytes] = set()
        # stems whose object keys would be folders of a used stem: `a` once `a.html/b` is used
        self._folder_named: set[bytes] = set()
        for stem in used:
            self.remember(stem)

    def allocate(self, custom_id: str | None, job_id: str) -> str:
        """The stem for this job's objects (keys are `<stem>.<suffix>`); remembers it as used."""
        base = slugify(custom_id)
        candidates = [base, f"{base}.{job_id}"] if base else [job_id]
        if "/" in base:  # when the folders collide, `.<job id>` does not help; the top level does
            candidates.append(job_id)
        n = 0
        while True:
            for stem in candidates:
                if self._free(stem):
                    self.remember(stem)
                    return stem
            # Only reachable when custom_ids mimic `<stem>.<job id>`: count up until a stem is free.
            n += 1
            candidates = [f"{job_id}.{n}"]

    def _free(self, stem: str) -> bool:
        digest = _stem_digest(stem)
        if digest in self._used or digest in self._folder_named:
            return False
        return "/" not in stem or all(_stem_digest(x) not in self._used for x in _key_like_folders(stem))

    def remember(self, stem: str) -> None:
        """Mark a stem used (by this export, or by an earlier attempt when resuming)."""
        self._used.add(_stem_digest(stem))
        if "/" in stem:
            self._folder_named.update(_stem_digest(x) for x in _key_like_folders(stem))
