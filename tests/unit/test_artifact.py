"""Streaming validation of model archives: one test per rule, asserting on the reason a user reads."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pytest

from sluice.domain.artifact import ArchiveLimits, ArchiveReport, validate_archive
from sluice.errors import RejectedArtifact

MIB = 1024 * 1024


# --- building archives in memory --------------------------------------------------------------------


@dataclass
class Entry:
    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    pax_headers: dict[str, str] = field(default_factory=dict)


def tar_bytes(
    *entries: Entry, end_marker: bool = True, global_headers: dict[str, str] | None = None
) -> bytes:
    """A PAX tar of `entries`; names travel in pax `path` records so any string arrives unchanged."""
    buffer = io.BytesIO()
    archive = tarfile.TarFile(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT, pax_headers=global_headers)
    for entry in entries:
        info = tarfile.TarInfo(entry.name)
        info.type = entry.type
        info.linkname = entry.linkname
        info.pax_headers = {"path": entry.name, **entry.pax_headers}
        if entry.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
            info.size = len(entry.data)
            archive.addfile(info, io.BytesIO(entry.data))
        else:
            archive.addfile(info)
    if not end_marker:
        return buffer.getvalue()  # TarFile writes the end-of-archive marker on close()
    archive.close()
    return buffer.getvalue()


def targz(*entries: Entry, global_headers: dict[str, str] | None = None) -> bytes:
    return gzip.compress(tar_bytes(*entries, global_headers=global_headers), mtime=0)


def model_archive(*extra: Entry) -> bytes:
    return targz(Entry("model.pth", b"weights" * 100), *extra)


def validate(data: bytes, limits: ArchiveLimits | None = None) -> ArchiveReport:
    return validate_archive(io.BytesIO(data), limits or ArchiveLimits())


def rejection(data: bytes, limits: ArchiveLimits | None = None) -> str:
    with pytest.raises(RejectedArtifact) as caught:
        validate(data, limits)
    assert caught.value.code == "InvalidArtifact"
    return caught.value.reason


class PiecewiseStream:
    """A stream over lazily produced pieces; `read(n)` returns at most `max_read` bytes (short reads)."""

    def __init__(self, pieces: Iterable[bytes], max_read: int | None = None) -> None:
        self._pieces = iter(pieces)
        self._buffer = b""
        self._max_read = max_read
        self.bytes_read = 0
        self.exhausted = False

    def read(self, size: int) -> bytes:
        wanted = size if self._max_read is None else min(size, self._max_read)
        while len(self._buffer) < wanted and not self.exhausted:
            piece = next(self._pieces, None)
            if piece is None:
                self.exhausted = True
            else:
                self._buffer += piece
        data, self._buffer = self._buffer[:wanted], self._buffer[wanted:]
        self.bytes_read += len(data)
        return data


def lazy_targz(
    file_size: int, block: Callable[[int], bytes], files: int = 1, level: int = 9
) -> Iterator[bytes]:
    """gzip(tar of `files` files of `file_size` bytes each), generated chunk by chunk: never all in memory."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def tar_pieces() -> Iterator[bytes]:
        for index in range(files):
            header = tarfile.TarInfo(f"shard-{index}.bin")
            header.size = file_size
            yield header.tobuf(tarfile.PAX_FORMAT)
            remaining = file_size
            while remaining:
                step = min(remaining, MIB)
                yield block(step)
                remaining -= step
            yield bytes(-file_size % 512)
        yield bytes(1024)

    for piece in tar_pieces():
        if out := compressor.compress(piece):
            yield out
    yield compressor.flush()


# --- what a valid archive reports -------------------------------------------------------------------


def test_valid_archive_reports_hash_sizes_and_files() -> None:
    data = targz(
        Entry("./", type=tarfile.DIRTYPE),
        Entry("./model.pth", b"\x00\x01" * 5000),
        Entry("./code", type=tarfile.DIRTYPE),
        Entry("./code/inference.py", b"def model_fn(model_dir): ...\n"),
    )

    report = validate(data)

    assert report == ArchiveReport(
        sha256=hashlib.sha256(data).hexdigest(),
        compressed_bytes=len(data),
        uncompressed_bytes=len(gzip.decompress(data)),
        member_count=4,
        regular_files=("./model.pth", "./code/inference.py"),
    )


def test_short_reads_give_the_same_report() -> None:
    data = model_archive(Entry("config.json", b"{}"))

    report = validate_archive(PiecewiseStream([data], max_read=7), ArchiveLimits(chunk_size=4096))

    assert report == validate(data)


def test_zero_padding_after_the_end_of_archive_marker_is_allowed_and_hashed() -> None:
    inner = tar_bytes(Entry("model.pth", b"weights")) + bytes(30_000)  # a 20-block record and more
    data = gzip.compress(inner) + bytes(64)  # zero padding after the gzip stream too

    report = validate(data)

    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.compressed_bytes == len(data)
    assert report.uncompressed_bytes == len(inner)


def test_multi_member_gzip_is_read_to_the_end() -> None:
    inner = tar_bytes(Entry("model.pth", b"weights" * 1000))
    data = gzip.compress(inner[:3000]) + gzip.compress(inner[3000:])

    report = validate(data)

    assert report.uncompressed_bytes == len(inner)
    assert report.regular_files == ("model.pth",)


def test_a_git_archive_style_global_header_is_allowed() -> None:
    data = targz(Entry("model.pth", b"w"), global_headers={"comment": "0123abcd"})

    report = validate(data)

    assert report.regular_files == ("model.pth",)


def test_regular_files_lists_the_first_thousand() -> None:
    data = targz(*(Entry(f"shard-{index:04}.bin", b"x") for index in range(1001)))

    report = validate(data)

    assert report.member_count == 1001
    assert report.regular_files == tuple(f"shard-{index:04}.bin" for index in range(1000))


@pytest.mark.parametrize(
    "limits",
    [{"max_members": 0}, {"chunk_size": 0}, {"max_compression_ratio": 1.0}, {"ratio_floor_bytes": -1}],
)
def test_nonsense_limits_are_a_programming_error(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="archive limits"):
        ArchiveLimits(**limits)  # type: ignore[arg-type]


def test_a_failing_stream_is_not_a_rejection() -> None:
    failure = ConnectionResetError("connection reset by peer")

    class FailingStream:
        def read(self, size: int) -> bytes:
            raise failure

    with pytest.raises(ConnectionResetError) as caught:
        validate_archive(FailingStream())

    assert caught.value is failure


# --- gzip layer -------------------------------------------------------------------------------------


def test_empty_object() -> None:
    assert rejection(b"") == "the object is empty: a model archive must be a .tar.gz file"


def test_not_gzip() -> None:
    reason = rejection(b"PK\x03\x04 this is a zip file")

    assert reason.startswith("not a gzip file: the object starts with 50 4b 03 04")


def test_truncated_gzip() -> None:
    data = model_archive()

    reason = rejection(data[: len(data) // 2])

    assert reason.startswith(f"truncated gzip: the object ends after {len(data) // 2} bytes")


def test_corrupt_gzip_crc() -> None:
    data = bytearray(model_archive())
    data[-8] ^= 0xFF  # the CRC-32 in the gzip trailer

    assert "CRC-32 checksum" in rejection(bytes(data))


def test_corrupt_gzip_length() -> None:
    data = bytearray(model_archive())
    data[-1] ^= 0xFF  # ISIZE in the gzip trailer

    assert "the length recorded at the end of the gzip stream" in rejection(bytes(data))


def test_corrupt_deflate_data() -> None:
    data = bytearray(gzip.compress(tar_bytes(Entry("model.pth", random.Random(1).randbytes(4096)))))
    data[10] = 0xFF  # first deflate block header: reserved block type 3

    assert rejection(bytes(data)).startswith("corrupt gzip data within the first")


def test_garbage_after_the_gzip_stream() -> None:
    data = model_archive()

    reason = rejection(data + b"garbage")

    assert reason.startswith(f"unexpected data after the end of the gzip stream at byte {len(data)}")


# --- tar layer --------------------------------------------------------------------------------------


def test_gzip_that_is_not_a_tar() -> None:
    reason = rejection(gzip.compress(b"just some text, not a tar header" * 40))

    assert reason.startswith("not a tar archive: the gzip data does not start with a valid tar header")


def test_empty_gzip_is_not_a_tar() -> None:
    assert rejection(gzip.compress(b"")) == "not a tar archive: the gzip data is empty"


def test_tar_truncated_inside_a_member() -> None:
    inner = tar_bytes(Entry("model.pth", b"w" * 5000))

    reason = rejection(gzip.compress(inner[:3000]))

    assert reason == "truncated tar: the archive ends inside member 'model.pth' (which declares 5000 bytes)"


def test_tar_without_end_of_archive_marker() -> None:
    inner = tar_bytes(Entry("model.pth", b"weights"), end_marker=False)

    reason = rejection(gzip.compress(inner))

    assert reason == (
        "truncated tar: the archive ends after member 'model.pth' without the end-of-archive marker"
    )


def test_tar_truncated_inside_a_header() -> None:
    inner = tar_bytes(Entry("model.pth", b"weights"), end_marker=False)
    cut_header = tarfile.TarInfo("more.bin").tobuf()[:100]

    reason = rejection(gzip.compress(inner + cut_header))

    assert reason == "truncated tar: the archive ends inside the header after member 'model.pth'"


def test_invalid_header_after_a_member_hides_the_rest() -> None:
    # Python's tarfile stops silently here; GNU tar would skip ahead and extract the symlink.
    inner = tar_bytes(Entry("model.pth", b"weights"), end_marker=False)
    tail = tar_bytes(Entry("evil", type=tarfile.SYMTYPE, linkname="/etc/passwd"))

    reason = rejection(gzip.compress(inner + b"\xff" * 512 + tail))

    assert reason.startswith("corrupt tar: the header after member 'model.pth' is invalid (bad checksum)")


def test_header_that_tarfile_cannot_parse() -> None:
    # tarfile raises a bare ValueError on this global pax record when applying it to the next member.
    data = targz(Entry("model.pth", b"x"), global_headers={"GNU.sparse.realsize": "many"})

    reason = rejection(data)

    assert reason.startswith("corrupt tar: cannot read the header at the start of the archive (ValueError:")


def test_header_with_a_negative_size() -> None:
    header = tarfile.TarInfo("model.bin")
    header.size = -1  # GNU base-256 encoding can say so
    data = gzip.compress(header.tobuf(tarfile.GNU_FORMAT) + bytes(1024))

    assert rejection(data) == "corrupt tar: the header of 'model.bin' declares a negative size"


def test_pax_record_with_a_negative_size() -> None:
    # tarfile would step back by 5 bytes and read this member's header again as its data.
    data = model_archive(Entry("weights.bin", pax_headers={"size": "-5"}))

    assert rejection(data) == "corrupt tar: member 'weights.bin' declares a negative size"


# --- after the end-of-archive marker (issue 13) -------------------------------------------------------
# `tar -x` stops at the first zero block; `tar -x --ignore-zeros` reads on and extracts what follows.


def test_a_member_after_the_end_of_archive_marker_is_rejected_by_name() -> None:
    first = tar_bytes(Entry("model.pth", b"weights"))
    hidden = tarfile.TarInfo("code/inference.py")
    hidden.size = 3
    inner = first + hidden.tobuf(tarfile.USTAR_FORMAT) + b"x=1".ljust(512, b"\0") + bytes(1024)

    reason = rejection(gzip.compress(inner))

    end = len(tar_bytes(Entry("model.pth", b"weights"), end_marker=False)) + 512  # the first zero block
    assert reason == (
        f"data after the end of the tar archive: the end-of-archive marker (a zero block) ends at byte "
        f"{end} of the uncompressed tar, and byte {len(first)} holds a tar header of member "
        "'code/inference.py'. `tar -x` stops at the marker but `tar -x --ignore-zeros` and other "
        "extractors read on, so what follows cannot be checked; only zero padding may follow the marker: "
        "build the archive with one `tar -czf` (never by concatenating archives)"
    )


def test_a_second_archive_appended_in_its_own_gzip_member_is_rejected() -> None:
    data = model_archive() + targz(Entry("evil.py", b"import os"))

    reason = rejection(data)

    assert reason.startswith("data after the end of the tar archive: ")
    assert "holds a tar extended header (of further members)" in reason  # targz writes pax headers


def test_a_member_after_a_single_zero_block_is_rejected() -> None:
    inner = tar_bytes(Entry("model.pth", b"weights"), end_marker=False)
    hidden = tarfile.TarInfo("evil.py").tobuf(tarfile.USTAR_FORMAT)

    reason = rejection(gzip.compress(inner + bytes(512) + hidden + bytes(1024)))

    assert f"byte {len(inner) + 512} holds a tar header of member 'evil.py'" in reason


def test_junk_after_the_end_of_archive_marker_is_rejected() -> None:
    inner = tar_bytes(Entry("model.pth", b"weights"))

    reason = rejection(gzip.compress(inner + bytes(700) + b"trailing junk"))

    assert f"byte {len(inner) + 700} holds data other than zero bytes." in reason


def test_junk_after_the_marker_is_found_in_any_chunk() -> None:
    inner = tar_bytes(Entry("model.pth", b"weights")) + bytes(50_000) + b"\x01"

    reason = rejection(gzip.compress(inner), ArchiveLimits(chunk_size=4096))

    assert f"byte {len(inner) - 1} holds data other than zero bytes." in reason


# --- member names -----------------------------------------------------------------------------------


def test_absolute_path() -> None:
    reason = rejection(model_archive(Entry("/etc/cron.d/job", b"* * * * * root sh")))

    assert reason == (
        "member '/etc/cron.d/job' is an absolute path; member paths must be relative to the archive root"
    )


def test_leading_backslash() -> None:
    reason = rejection(model_archive(Entry("\\Windows\\System32\\evil.dll", b"MZ")))

    assert reason.startswith("member '\\\\Windows\\\\System32\\\\evil.dll' starts with a backslash")


@pytest.mark.parametrize("name", ["C:/evil.dll", "c:evil.dll", "Z:\\evil.dll", "./C:", ".\\./d:evil.dll"])
def test_windows_drive_letter(name: str) -> None:
    reason = rejection(model_archive(Entry(name, b"MZ")))

    assert reason == (
        f"member {name!r} starts with a Windows drive letter; "
        "member paths must be relative to the archive root"
    )


@pytest.mark.parametrize("name", ["../evil.py", "code/../../evil.py", "code\\..\\..\\evil.py", "code/.."])
def test_dot_dot_component(name: str) -> None:
    reason = rejection(model_archive(Entry(name, b"x")))

    assert reason == f"member {name!r} has a '..' path component, which would escape the extraction directory"


def test_nul_in_name() -> None:
    reason = rejection(model_archive(Entry("model.pth\x00.txt", b"x")))

    assert reason == "member 'model.pth\\x00.txt' has a NUL character in its name"


def test_empty_name() -> None:
    assert rejection(model_archive(Entry("", b"x"))) == "member '' has an empty name"


def test_name_too_long() -> None:
    name = "ab" * 2500

    reason = rejection(model_archive(Entry(name, b"x")))

    assert reason.endswith("has a name of 5000 characters; the limit is 4096")


@pytest.mark.parametrize(
    ("name", "shown", "code_point", "at"),
    [
        ("model\x1b[2K.pth", "'model\\x1b[2K.pth'", "U+001B", 5),  # an ANSI escape hides the name
        ("model.pth\n", "'model.pth\\n'", "U+000A", 9),
        ("code/\tinference.py", "'code/\\tinference.py'", "U+0009", 5),
        ("model\x7f.pth", "'model\\x7f.pth'", "U+007F", 5),  # DEL
        ("model\x85.pth", "'model\\x85.pth'", "U+0085", 5),  # C1: NEXT LINE
        ("\x9bmodel.pth", "'\\x9bmodel.pth'", "U+009B", 0),  # C1: CONTROL SEQUENCE INTRODUCER
    ],
)
def test_control_character_in_a_name(name: str, shown: str, code_point: str, at: int) -> None:
    reason = rejection(model_archive(Entry(name, b"x")))

    assert reason == (
        f"member {shown} has a control character ({code_point}) at character {at} of its name: it hides "
        "what the name is in listings and logs; rename the file with printable characters only"
    )


def raw_name_archive(raw_name: bytes, tar_format: int) -> bytes:
    """A .tar.gz whose one member's name is `raw_name`, as bytes (so it need not be UTF-8)."""
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w", format=tar_format, encoding="utf-8", errors="surrogateescape"
    ) as archive:
        info = tarfile.TarInfo(raw_name.decode("utf-8", "surrogateescape"))
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    return gzip.compress(buffer.getvalue())


@pytest.mark.parametrize(
    "tar_format",
    [
        pytest.param(tarfile.USTAR_FORMAT, id="ustar name"),
        pytest.param(tarfile.PAX_FORMAT, id="pax path with hdrcharset BINARY"),
        pytest.param(tarfile.GNU_FORMAT, id="GNU long name"),
    ],
)
def test_a_name_that_is_not_utf8_is_rejected(tar_format: int) -> None:
    raw = b"mod\xe8le.pth" if tar_format != tarfile.GNU_FORMAT else b"d" * 120 + b"/mod\xe8le.pth"

    reason = rejection(raw_name_archive(raw, tar_format))

    at = raw.index(b"\xe8")
    assert reason.startswith("member '")
    assert reason.endswith(
        f"has a name that is not valid UTF-8 (byte 0xe8 at character {at}): SageMaker's containers and "
        "Python tooling read member names as UTF-8 and would mangle or refuse it; rename the file with a "
        "UTF-8 name (or re-create the archive on a system with a UTF-8 locale)"
    )


def test_utf8_names_are_fine() -> None:
    report = validate(model_archive(Entry("modèle/模型/𝔪.bin", b"x"), Entry("Ω.txt", b"y")))

    assert report.regular_files == ("model.pth", "modèle/模型/𝔪.bin", "Ω.txt")


@pytest.mark.parametrize(
    ("first", "second", "path"),
    [
        (Entry("./model.pth", b"a"), Entry("model.pth", b"b"), "model.pth"),
        (Entry("model.pth", b"a"), Entry("model.pth", b"b"), "model.pth"),
        (Entry("code/inference.py", b"a"), Entry("code//./inference.py", b"b"), "code/inference.py"),
        (Entry("./code", type=tarfile.DIRTYPE), Entry("code", b"a file"), "code"),
        (Entry("code/", type=tarfile.DIRTYPE), Entry("./code/", type=tarfile.DIRTYPE), "code"),
    ],
)
def test_two_members_extracting_to_one_path(first: Entry, second: Entry, path: str) -> None:
    reason = rejection(targz(first, Entry("config.json", b"{}"), second))

    assert reason == (
        f"member {second.name.rstrip('/')!r} extracts to the same path {path!r} as member "
        f"{first.name.rstrip('/')!r} before it: extracting would replace one with the other, so which one "
        "SageMaker loads depends on the extractor; keep one member per path"
    )


def test_the_archive_root_listed_twice() -> None:
    reason = rejection(model_archive(Entry("./", type=tarfile.DIRTYPE), Entry(".", type=tarfile.DIRTYPE)))

    assert reason.startswith("member '.' extracts to the archive root as member '.' before it")


def test_names_differing_in_case_or_backslashes_are_different_files() -> None:
    report = validate(model_archive(Entry("Model.pth", b"a"), Entry("code\\x.py", b"b"), Entry("code/x.py")))

    assert report.member_count == 4


def test_dot_dot_inside_a_component_is_fine() -> None:
    report = validate(model_archive(Entry("weights..v2/..hidden/model...bin", b"x")))

    assert report.regular_files == ("model.pth", "weights..v2/..hidden/model...bin")


# --- member types -----------------------------------------------------------------------------------


def test_symlink() -> None:
    reason = rejection(model_archive(Entry("code", type=tarfile.SYMTYPE, linkname="/etc")))

    assert reason == (
        "member 'code' is a symbolic link (to '/etc'); "
        "only regular files and directories are allowed in a model archive"
    )


def test_hardlink() -> None:
    reason = rejection(model_archive(Entry("copy.pth", type=tarfile.LNKTYPE, linkname="model.pth")))

    assert reason.startswith("member 'copy.pth' is a hard link (to 'model.pth'); only regular files")


@pytest.mark.parametrize(
    ("member_type", "kind"),
    [(tarfile.CHRTYPE, "a character device"), (tarfile.BLKTYPE, "a block device")],
)
def test_device(member_type: bytes, kind: str) -> None:
    reason = rejection(model_archive(Entry("dev/sda", type=member_type)))

    assert reason.startswith(f"member 'dev/sda' is {kind}; only regular files and directories")


def test_fifo() -> None:
    reason = rejection(model_archive(Entry("pipe", type=tarfile.FIFOTYPE)))

    assert reason.startswith("member 'pipe' is a FIFO (named pipe); only regular files and directories")


def test_other_member_type() -> None:
    reason = rejection(model_archive(Entry("label", type=b"V")))

    assert reason.startswith("member 'label' has unsupported member type 'V'; only regular files")


@pytest.mark.parametrize(
    "sparse_headers",
    [
        {},  # old GNU sparse member type 'S'
        {"GNU.sparse.size": "10", "GNU.sparse.offset": "0", "GNU.sparse.numbytes": "1"},  # pax 0.0
        {"GNU.sparse.map": "0,1", "GNU.sparse.size": "10"},  # pax 0.1
        {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize": "10"},  # pax 1.0
    ],
)
def test_sparse_file(sparse_headers: dict[str, str]) -> None:
    member_type = tarfile.REGTYPE if sparse_headers else tarfile.GNUTYPE_SPARSE
    entry = Entry("model.bin", b"x", type=member_type, pax_headers=sparse_headers)

    reason = rejection(model_archive(entry))

    assert "is a sparse file; only regular files and directories are allowed" in reason


def test_directories_only() -> None:
    data = targz(Entry("model", type=tarfile.DIRTYPE), Entry("code", type=tarfile.DIRTYPE))

    assert rejection(data) == "the archive contains no regular files (only 2 directories)"


def test_empty_tar() -> None:
    assert rejection(targz()) == "the archive contains no regular files"


# --- limits -----------------------------------------------------------------------------------------


def test_too_many_members() -> None:
    data = targz(*(Entry(f"part-{index}", b"x") for index in range(4)))

    reason = rejection(data, ArchiveLimits(max_members=3))

    assert reason == "the archive has more than 3 members, the limit on members"


def test_member_declaring_more_than_the_size_limit() -> None:
    header = tarfile.TarInfo("model.bin")
    header.size = 2 * MIB
    data = gzip.compress(header.tobuf(tarfile.PAX_FORMAT))  # the declared bytes never follow

    reason = rejection(data, ArchiveLimits(max_uncompressed_bytes=MIB))

    assert reason == (
        "member 'model.bin' declares 2.0 MiB, more than 1.0 MiB, the limit on uncompressed size"
    )


def test_inflating_past_the_size_limit_stops_at_once() -> None:
    limits = ArchiveLimits(max_uncompressed_bytes=4 * MIB, chunk_size=256 * 1024)
    noise = random.Random(7)
    # 64 files of 1 MiB of incompressible data, of which only what is read gets generated.
    stream = PiecewiseStream(lazy_targz(MIB, noise.randbytes, files=64, level=1))

    with pytest.raises(RejectedArtifact) as caught:
        validate_archive(stream, limits)

    assert caught.value.reason.startswith(
        "the archive inflates to more than 4.0 MiB, the limit on uncompressed size (stopped after 4."
    )
    assert stream.bytes_read <= 4 * MIB + 2 * limits.chunk_size
    assert not stream.exhausted


def test_decompression_bomb_is_stopped_early() -> None:
    # 1 GiB of zeros: about 1 MiB compressed. Generated lazily; served in short 64 KiB reads.
    stream = PiecewiseStream(lazy_targz(1024 * MIB, bytes), max_read=64 * 1024)

    with pytest.raises(RejectedArtifact) as caught:
        validate_archive(stream)

    assert caught.value.reason.startswith("compression ratio above 100:1 (")
    assert caught.value.reason.endswith("): refusing a possible decompression bomb")
    assert stream.bytes_read <= 64 * 1024  # the first read was enough to tell
    assert not stream.exhausted


def test_compressible_archive_below_the_ratio_floor_is_fine() -> None:
    data = targz(Entry("embeddings.bin", bytes(8 * MIB)))  # ~1000:1, but only 8 MiB

    report = validate(data)

    assert report.uncompressed_bytes > 8 * MIB
    assert report.uncompressed_bytes / report.compressed_bytes > 100


# --- abusive headers --------------------------------------------------------------------------------


def test_oversized_extended_header() -> None:
    entry = Entry("model.pth", b"x", pax_headers={"comment": "x" * (2 * MIB)})

    reason = rejection(targz(entry))

    assert reason.startswith("corrupt tar: an extended header (type 'x') of ")
    assert reason.endswith("bytes exceeds the limit of 1.0 MiB")


def test_long_chain_of_extended_headers() -> None:
    record = b"13 comment=x\n"
    pax = tarfile.TarInfo("./PaxHeaders/model.pth")
    pax.type = tarfile.XHDTYPE
    pax.size = len(record)
    one_header = pax.tobuf(tarfile.USTAR_FORMAT) + record.ljust(512, b"\0")
    inner = one_header * 9 + tar_bytes(Entry("model.pth", b"x"))

    reason = rejection(gzip.compress(inner))

    assert reason == "corrupt tar: more than 8 extended headers in a row"


def test_too_many_global_pax_records() -> None:
    data = targz(Entry("model.pth", b"x"), global_headers={f"key{index}": "v" for index in range(65)})

    assert rejection(data) == "corrupt tar: global pax headers hold more than 64 records"
