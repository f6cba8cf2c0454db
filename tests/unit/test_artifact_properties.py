"""Properties of archive validation: member names are judged like an independent oracle judges them,
and no input bytes make anything but `RejectedArtifact` escape."""

from __future__ import annotations

import gzip
import hashlib
import io
import string
import tarfile
import unicodedata
from pathlib import PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.domain.artifact import ArchiveLimits, ArchiveReport, validate_archive
from sluice.errors import RejectedArtifact

FUZZ_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def single_file_archive(name: str) -> bytes:
    """A .tar.gz holding one regular file whose pax `path` record is exactly `name`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.pax_headers = {"path": name}
        info.size = 5
        archive.addfile(info, io.BytesIO(b"bytes"))
    return gzip.compress(buffer.getvalue(), mtime=0)


def is_safe_to_extract(name: str) -> bool:
    """The oracle, written from the rule rather than from the code: a name is safe when, read as a
    POSIX path with Windows separators taken as separators too, it is relative, never climbs with
    '..', does not start with a Windows drive, and holds no control character (Unicode category Cc:
    C0, DEL, C1; NUL would also cut C strings short)."""
    if any(unicodedata.category(character) == "Cc" for character in name) or len(name) > 4096:
        return False
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        return False
    first = path.parts[0] if path.parts else ""
    has_drive = len(first) >= 2 and first[0] in string.ascii_letters and first[1] == ":"
    return not has_drive


path_fragments = st.one_of(
    st.sampled_from(["..", ".", "/", "\\", "//", "...", ".. ", "C:", "z:", "1:", ":", "~", "\x00"]),
    st.sampled_from(["model", "weights.bin", "code", "modèle", "模型", "𝔪𝔬𝔡𝔢𝔩", " ", "\t", "a\nb"]),
    st.text(min_size=1, max_size=3),
)
member_names = st.lists(path_fragments, min_size=1, max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(member_names)
def test_a_member_name_is_accepted_iff_the_oracle_says_it_is_safe(name: str) -> None:
    data = single_file_archive(name)

    if is_safe_to_extract(name):
        report = validate_archive(io.BytesIO(data))
        assert report.regular_files == (name.rstrip("/"),)  # tarfile drops trailing slashes of pax paths
    else:
        with pytest.raises(RejectedArtifact, match=r"^member "):
            validate_archive(io.BytesIO(data))


def archive_of(names: list[str], tail: bytes = b"") -> bytes:
    """A .tar.gz of one small regular file per name (pax `path` records), `tail` after the tar's end."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in names:
            info = tarfile.TarInfo(name)
            info.pax_headers = {"path": name}
            info.size = 1
            archive.addfile(info, io.BytesIO(b"x"))
    return gzip.compress(buffer.getvalue() + tail, mtime=0)


def extracted_file(name: str) -> str:
    """Where extraction writes `name`, by the oracle: the POSIX path with "." and empty parts gone."""
    return str(PurePosixPath(name))


plain_names = st.lists(
    st.sampled_from(["model.pth", "code", "inference.py", ".", "", "x"]), min_size=1, max_size=4
).map("/".join)


# Issue 13: `./model.pth` and `model.pth` are one file once extracted; a second one replaced the first.
@settings(max_examples=200, deadline=None)
@given(st.lists(plain_names, min_size=1, max_size=5))
def test_an_archive_is_accepted_iff_no_two_members_extract_to_one_path(names: list[str]) -> None:
    names = [name.lstrip("/") for name in names if extracted_file(name.lstrip("/")) != "."]
    if not names:
        return
    data = archive_of(names)
    paths = [extracted_file(name) for name in names]

    if len(set(paths)) == len(paths):
        assert validate_archive(io.BytesIO(data)).member_count == len(names)
    else:
        with pytest.raises(RejectedArtifact, match=r"^member .* extracts to the same path .* as member "):
            validate_archive(io.BytesIO(data))


# Issue 13: a member after the end-of-archive marker was published (`tar -x --ignore-zeros` extracts it).
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000) | st.integers(0, 20_000).map(bytes))
def test_an_archive_is_accepted_iff_only_zeros_follow_its_end(tail: bytes) -> None:
    data = archive_of(["model.pth"], tail)

    if tail.count(0) == len(tail):
        assert validate_archive(io.BytesIO(data)).regular_files == ("model.pth",)
    else:
        with pytest.raises(RejectedArtifact, match=r"^data after the end of the tar archive: "):
            validate_archive(io.BytesIO(data))


# --- robustness: only RejectedArtifact, whatever the bytes -------------------------------------------


def _valid_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in [("model/", None), ("model/" + "w" * 120 + ".bin", b"weights" * 40), ("é.py", b"")]:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


VALID_TAR = _valid_tar()
VALID_ARCHIVE = gzip.compress(VALID_TAR, mtime=0)

small_limits = st.builds(
    ArchiveLimits,
    max_members=st.integers(1, 5),
    max_uncompressed_bytes=st.sampled_from([4096, 20_000, 1024**2]),
    max_compression_ratio=st.sampled_from([2.0, 100.0]),
    ratio_floor_bytes=st.sampled_from([0, 4096, 16 * 1024**2]),
    chunk_size=st.sampled_from([1, 7, 512, 65_536]),
)


def flip_bits(data: bytes, positions: list[int]) -> bytes:
    flipped = bytearray(data)
    for position in positions:
        flipped[position // 8 % len(flipped)] ^= 1 << position % 8
    return bytes(flipped)


def validate_or_reject(data: bytes, limits: ArchiveLimits) -> ArchiveReport | str:
    """The report, or the rejection's reason. Any other exception fails the test."""
    try:
        outcome: ArchiveReport | str = validate_archive(io.BytesIO(data), limits)
    except RejectedArtifact as rejection:
        outcome = rejection.reason
    if isinstance(outcome, ArchiveReport):
        assert outcome.sha256 == hashlib.sha256(data).hexdigest()
        assert outcome.compressed_bytes == len(data)
    else:
        assert outcome, "a rejection without a reason"
    return outcome


@FUZZ_SETTINGS
@given(st.binary(max_size=2048), small_limits)
def test_arbitrary_bytes_are_rejected_cleanly(data: bytes, limits: ArchiveLimits) -> None:
    validate_or_reject(data, limits)


@FUZZ_SETTINGS
@given(st.binary(max_size=4096), small_limits)
def test_arbitrary_gzipped_bytes_are_rejected_cleanly(data: bytes, limits: ArchiveLimits) -> None:
    validate_or_reject(gzip.compress(data), limits)


@FUZZ_SETTINGS
@given(st.integers(0, len(VALID_ARCHIVE) - 1), small_limits)
def test_every_truncation_is_rejected(length: int, limits: ArchiveLimits) -> None:
    assert isinstance(validate_or_reject(VALID_ARCHIVE[:length], limits), str)


@FUZZ_SETTINGS
@given(st.lists(st.integers(0, 8 * len(VALID_ARCHIVE) - 1), min_size=1, max_size=4), small_limits)
def test_bit_flips_in_the_compressed_bytes_never_escape(positions: list[int], limits: ArchiveLimits) -> None:
    validate_or_reject(flip_bits(VALID_ARCHIVE, positions), limits)


@FUZZ_SETTINGS
@given(
    st.lists(st.integers(0, 8 * len(VALID_TAR) - 1), min_size=1, max_size=4),
    st.integers(0, len(VALID_TAR)),
    small_limits,
)
def test_damaged_tar_inside_valid_gzip_never_escapes(
    positions: list[int], length: int, limits: ArchiveLimits
) -> None:
    validate_or_reject(gzip.compress(flip_bits(VALID_TAR, positions)[:length]), limits)


member_types = st.sampled_from(
    [
        *(tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE),
        *(tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE, tarfile.GNUTYPE_SPARSE, b"V"),
        *(tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE),
        *(tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK),
    ]
)
pax_keys = st.sampled_from(
    [
        *("path", "linkpath", "size", "mtime", "hdrcharset", "comment", "GNU.sparse.map"),
        *(
            "GNU.sparse.size",
            "GNU.sparse.major",
            "GNU.sparse.minor",
            "GNU.sparse.name",
            "GNU.sparse.realsize",
        ),
    ]
)
pax_values = st.one_of(
    st.sampled_from(["0", "1", "-5", "1,2", "BINARY", "../x", "/abs", "x" * 600]), st.text(max_size=8)
)


def pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = len(body) + len(str(len(body)))
    length = len(body) + len(str(length))  # the length counts its own digits
    return str(length).encode() + body


@st.composite
def tar_like_archives(draw: st.DrawFn) -> bytes:
    """gzip of well-formed-looking headers (valid checksums) with hostile fields and payloads."""
    blocks = []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(["model.bin", "d/", "././@LongLink", "x" * 150]) | st.text(max_size=12))
        header = tarfile.TarInfo(name)
        header.type = draw(member_types)
        if draw(st.booleans()):
            records = draw(st.lists(st.tuples(pax_keys, pax_values), max_size=3))
            payload = b"".join(pax_record(key, value) for key, value in records)
        else:
            payload = draw(st.binary(max_size=1100))
        header.size = draw(st.sampled_from([len(payload), 0, -1, 2**33]) | st.integers(-(2**20), 2**20))
        block = header.tobuf(tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape")
        blocks.append(block + payload + bytes(-len(payload) % 512))
    if draw(st.booleans()):
        blocks.append(bytes(1024))
    return gzip.compress(b"".join(blocks))


@FUZZ_SETTINGS
@given(tar_like_archives(), small_limits)
def test_hostile_headers_never_escape(data: bytes, limits: ArchiveLimits) -> None:
    validate_or_reject(data, limits)
