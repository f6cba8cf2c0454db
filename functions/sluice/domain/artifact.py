"""Streaming validation of a model archive (.tar.gz) before SageMaker ever sees it.

`validate_archive(stream, limits)` reads the object once, front to back, in chunks: never whole in
memory, never on disk. The pipeline is

    stream -> _HashingReader (sha256 + byte count of the object as stored)
           -> _GzipInflater  (gzip, multi-member aware; enforces the size and ratio limits per chunk)
           -> _ForwardFile   (the inflated bytes as a file that only moves forward)
           -> tarfile        (reads headers; skipping member data inflates and discards it)

and after the tar end-of-archive marker the rest of the object is read through the same pipeline,
checking it is zeros, so the hash covers every byte and the gzip CRC of every member is verified.
Memory stays at a few chunks, one member's headers and 16 bytes per member (to find two members
extracting to one path), whatever the archive size.

An archive is rejected (`RejectedArtifact`, with a reason naming the member when there is one) when:
- it is not gzip, the gzip stream is truncated or corrupt (CRC/length check), or bytes other than
  zero padding or further gzip members follow it;
- the gzip data is not a tar archive, the tar is truncated (no end-of-archive marker), or a header
  after a member is invalid (Python's tarfile would silently stop there while GNU tar skips ahead and
  extracts what follows, so the remaining members could not be checked);
- a member name is empty, longer than 4096 characters, contains NUL, is absolute (`/`, `\\`, a
  Windows drive such as `C:`, also after leading `./`), or has a `..` component (split on both `/` and `\\`);
- a member name is not valid UTF-8 (SageMaker's containers and Python tooling read names as UTF-8:
  such a name is mangled or refused there) or holds a control character (C0, DEL, C1: an escape
  sequence or a newline disguises the name in listings and logs);
- two members extract to one path once `.` and empty components are dropped (`./model.pth` and
  `model.pth`; a directory and a file of one name): the later would replace the earlier, so the
  bytes served would depend on the extractor;
- a member is a symlink, hard link, character or block device, FIFO, sparse file or any other type
  that is neither a regular file nor a directory;
- there are no regular files, more than `max_members` members, a member declares more bytes than
  `max_uncompressed_bytes`, more than `max_uncompressed_bytes` are inflated (reading stops at once:
  at most one chunk past the limit is ever inflated), or, once more than `ratio_floor_bytes` were
  inflated, inflated/compressed exceeds `max_compression_ratio` (checked after every chunk, so a
  decompression bomb is stopped after a few MiB);
- tar extended headers are abusive: one larger than 1 MiB, more than 8 chained before a member,
  more than 64 global pax records (each would otherwise cost memory or time per member).

- anything but zero bytes follows the tar end-of-archive marker (the first zero block, where tarfile
  and `tar -x` stop): `tar -x --ignore-zeros` would extract a member hidden there. Record padding
  (zeros) is allowed and hashed.

gzip framing: a gzip stream of several members is one stream (gzip(1), Python's gzip and tarfile
read them all, as RFC 1952 describes a file of several members); zero padding after the last member
is skipped ("trailing zero bytes ignored", as gzip(1) says); any other trailing bytes are rejected. A
further gzip member that holds a second tar archive lands after the end-of-archive marker, and is
rejected by the rule above.

Exceptions: for any input bytes only `RejectedArtifact` escapes. An exception raised by the stream
itself (network error, timeout) is not about the archive: it propagates unchanged, so the caller can
retry. Pure: no I/O other than reading the given stream.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, Self, TypeVar

from sluice.errors import RejectedArtifact

MAX_NAME_LENGTH = 4096
MAX_LISTED_REGULAR_FILES = 1000
MAX_EXTENDED_HEADER_BYTES = 1024 * 1024
MAX_CHAINED_HEADERS = 8
MAX_GLOBAL_PAX_RECORDS = 64

_GZIP_MAGIC = b"\x1f\x8b"
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")
_PATH_SEPARATORS = re.compile(r"[/\\]")
# C0 controls, DEL and C1 controls (U+0080-U+009F); NUL has its own reason.
_CONTROL_CHARACTER = re.compile(r"[\x01-\x1f\x7f-\x9f]")
# tarfile decodes names as UTF-8 with errors="surrogateescape": a byte that is not UTF-8 becomes
# U+DC80-U+DCFF (and UTF-8 never encodes a surrogate), so a surrogate in a name is a non-UTF-8 byte.
_UNDECODED_BYTE = re.compile(r"[\ud800-\udfff]")
_REGULAR_TYPES = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
_EXTENDED_HEADER_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)
_FORBIDDEN_TYPES = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO (named pipe)",
}
# How tarfile's header parsing stopped: undocumented exceptions, absent from typeshed.
_END_OF_ARCHIVE: type[tarfile.HeaderError] = tarfile.EOFHeaderError  # type: ignore[attr-defined]
_NOTHING_LEFT: type[tarfile.HeaderError] = tarfile.EmptyHeaderError  # type: ignore[attr-defined]
_CUT_HEADER: type[tarfile.HeaderError] = tarfile.TruncatedHeaderError  # type: ignore[attr-defined]
_ONLY_FILES_AND_DIRECTORIES = "only regular files and directories are allowed in a model archive"

_T = TypeVar("_T")


class ByteStream(Protocol):
    """What `validate_archive` reads: a binary file, a botocore StreamingBody, ... (short reads are fine)."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_uncompressed_bytes: int = 20 * 1024**3
    max_compression_ratio: float = 100.0
    # The ratio rule only applies once this many bytes were inflated: tiny files compress absurdly
    # well and are harmless.
    ratio_floor_bytes: int = 16 * 1024**2
    chunk_size: int = 1024 * 1024

    def __post_init__(self) -> None:
        if min(self.max_members, self.max_uncompressed_bytes, self.chunk_size) < 1:
            raise ValueError(f"archive limits must be positive: {self}")
        if self.max_compression_ratio <= 1 or self.ratio_floor_bytes < 0:
            raise ValueError(f"archive limits out of range: {self}")


DEFAULT_LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class ArchiveReport:
    sha256: str  # hex sha256 of the object exactly as stored, trailing bytes included
    compressed_bytes: int
    uncompressed_bytes: int  # bytes inflated from gzip (true size, not what headers claim)
    member_count: int  # every member: regular files and directories
    regular_files: tuple[str, ...]  # names of the first MAX_LISTED_REGULAR_FILES regular files


def validate_archive(stream: ByteStream, limits: ArchiveLimits = DEFAULT_LIMITS) -> ArchiveReport:
    """Read `stream` to its end and return what it holds, or raise `RejectedArtifact` with the reason."""
    source = _HashingReader(stream)
    inflater = _GzipInflater(source, limits)
    inflated = _ForwardFile(inflater)
    try:
        census = _read_members(inflated, limits)
        # The rest of the object: only zeros (hashed, its gzip CRCs checked, the limits enforced).
        _check_nothing_after_the_end(inflated)
    except _NotAboutTheArchive as escaped:
        raise escaped.error from None
    return ArchiveReport(
        sha256=source.hexdigest(),
        compressed_bytes=source.count,
        uncompressed_bytes=inflater.inflated,
        member_count=census.member_count,
        regular_files=tuple(census.regular_files),
    )


# --- gzip layer -------------------------------------------------------------------------------------


class _HashingReader:
    """Reads the object as stored, hashing and counting every byte."""

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self._sha256 = hashlib.sha256()
        self.count = 0

    def read(self, size: int) -> bytes:
        data = self._stream.read(size)
        self._sha256.update(data)
        self.count += len(data)
        return data

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()


class _GzipInflater:
    """Inflates a (possibly multi-member) gzip stream one chunk at a time, enforcing the limits.

    Each call inflates at most one chunk, then checks the limits, so no more than one chunk past a
    limit is ever inflated. Like gzip(1) and Python's gzip module, zero padding after a member is
    skipped and a further gzip member continues the data; anything else after the stream is rejected.
    """

    def __init__(self, source: _HashingReader, limits: ArchiveLimits) -> None:
        self._source = source
        self._limits = limits
        self._input = b""
        self._member: zlib._Decompress | None = None
        self._members_done = 0
        self._finished = False
        self.inflated = 0

    def next_chunk(self) -> bytes:
        """The next inflated bytes (at most one chunk), or b"" once the gzip stream is exhausted."""
        while not self._finished:
            if self._member is None:
                self._start_member()
                continue
            try:
                out = self._member.decompress(self._input, self._limits.chunk_size)
            except zlib.error as error:
                raise RejectedArtifact(self._describe(error)) from None
            self._input = self._member.unconsumed_tail
            if self._member.eof:
                self._input = self._member.unused_data + self._input
                self._member = None
                self._members_done += 1
            if out:
                self._account(len(out))
                return out
            if self._member is not None and not self._fill():
                raise RejectedArtifact(
                    f"truncated gzip: the object ends after {self._source.count} bytes, before the end "
                    "of the gzip stream (was the upload interrupted?)"
                )
        return b""

    def _fill(self) -> bool:
        data = self._source.read(self._limits.chunk_size)
        self._input = self._input + data if self._input else data
        return bool(data)

    def _start_member(self) -> None:
        while True:
            if self._members_done:
                self._input = self._input.lstrip(b"\0")
            if len(self._input) >= len(_GZIP_MAGIC) or not self._fill():
                break
        if not self._input:
            if not self._members_done:
                raise RejectedArtifact("the object is empty: a model archive must be a .tar.gz file")
            self._finished = True
        elif self._input.startswith(_GZIP_MAGIC):
            self._member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        elif not self._members_done:
            raise RejectedArtifact(
                f"not a gzip file: the object starts with {self._input[:4].hex(' ')}, not the gzip "
                "signature 1f 8b (a model archive must be a .tar.gz file)"
            )
        else:
            raise RejectedArtifact(
                f"unexpected data after the end of the gzip stream at byte "
                f"{self._source.count - len(self._input)}: only zero padding or further gzip members "
                "may follow it"
            )

    def _account(self, inflated: int) -> None:
        self.inflated += inflated
        limits = self._limits
        if self.inflated > limits.max_uncompressed_bytes:
            raise RejectedArtifact(
                f"the archive inflates to more than {_size(limits.max_uncompressed_bytes)}, the limit on "
                f"uncompressed size (stopped after {_size(self.inflated)})"
            )
        compressed = max(self._source.count, 1)
        if (
            self.inflated > limits.ratio_floor_bytes
            and self.inflated > limits.max_compression_ratio * compressed
        ):
            raise RejectedArtifact(
                f"compression ratio above {limits.max_compression_ratio:g}:1 "
                f"({_size(self.inflated)} inflated from {_size(compressed)}, "
                f"{self.inflated / compressed:.0f}:1): refusing a possible decompression bomb"
            )

    def _describe(self, error: zlib.error) -> str:
        detail = str(error)
        if "incorrect data check" in detail:
            return (
                "corrupt gzip data: the CRC-32 checksum at the end of the gzip stream does not match "
                "the data (the object is damaged)"
            )
        if "incorrect length check" in detail:
            return (
                "corrupt gzip data: the length recorded at the end of the gzip stream does not match "
                "the data (the object is damaged)"
            )
        return f"corrupt gzip data within the first {self._source.count} bytes of the object: {detail}"


class _ForwardFile(io.RawIOBase):
    """The inflated bytes as a read-only file that only moves forward: `seek` ahead inflates and
    discards. That is all tarfile needs to read headers and skip member data, without the copies
    its stream mode ("r|") makes of every byte it skips (a third of the time on large archives).
    Only a header with a bad size makes tarfile seek backwards: that is rejected."""

    def __init__(self, inflater: _GzipInflater) -> None:
        super().__init__()
        self._inflater = inflater
        self._chunk = b""  # the inflated chunk being read ...
        self._offset = 0  # ... and how far into it
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1, /) -> bytes:
        """Exactly `size` bytes unless the data ends first, like a regular file."""
        with _errors_not_about_the_archive():
            if size < 0:  # tarfile reads sizes from headers; a real file would read everything
                raise RejectedArtifact("corrupt tar: a header declares a negative size")
            parts = []
            wanted = size
            while wanted and self._refill():
                part = self._chunk[self._offset : self._offset + wanted]
                self._offset += len(part)
                wanted -= len(part)
                parts.append(part)
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            self._position += len(data)
            return data

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        with _errors_not_about_the_archive():
            if whence not in (io.SEEK_SET, io.SEEK_CUR):
                raise io.UnsupportedOperation(f"seek whence={whence}")
            target = offset if whence == io.SEEK_SET else self._position + offset
            if target < self._position:  # tarfile follows header sizes; only a bad one points back
                raise RejectedArtifact("corrupt tar: a header points back into data already read")
            skip = target - self._position
            while skip and self._refill():
                step = min(skip, len(self._chunk) - self._offset)
                self._offset += step
                skip -= step
            self._position = target  # past the end, like a file: the next read returns b""
            return target

    def skip_zeros(self) -> int | None:
        """Inflate the rest while it is zero bytes: the position of the first byte that is not zero
        (the next read starts there), or None once the object is read to its end (hashed, every gzip
        CRC checked). Constant memory: one chunk at a time."""
        with _errors_not_about_the_archive():
            while self._refill():
                rest = self._chunk[self._offset :] if self._offset else self._chunk
                nonzero = rest.lstrip(b"\0")
                skipped = len(rest) - len(nonzero)
                self._offset += skipped
                self._position += skipped
                if nonzero:
                    return self._position
            return None

    def _refill(self) -> bool:
        if self._offset == len(self._chunk):
            self._chunk, self._offset = self._inflater.next_chunk(), 0
        return bool(self._chunk)


class _NotAboutTheArchive(Exception):
    """Carries an exception from the stream (or a bug of ours) through tarfile, which would otherwise
    be reported as a damaged archive. `validate_archive` re-raises `error` unchanged."""

    def __init__(self, error: Exception) -> None:
        super().__init__(repr(error))
        self.error = error


@contextmanager
def _errors_not_about_the_archive() -> Iterator[None]:
    """Let rejections through; wrap anything else (the stream failing, a bug) so that tarfile's
    callers cannot mistake it for a damaged archive."""
    try:
        yield
    except RejectedArtifact:
        raise
    except Exception as error:
        raise _NotAboutTheArchive(error) from error


# --- tar layer --------------------------------------------------------------------------------------


class _CheckedTarInfo(tarfile.TarInfo):
    """TarInfo that refuses abusive headers before tarfile spends memory or time on them."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        header = super().frombuf(buf, encoding, errors)
        if header.size < 0:
            raise RejectedArtifact(
                f"corrupt tar: the header of {_shown(header.name)} declares a negative size"
            )
        if header.type == tarfile.GNUTYPE_SPARSE:
            raise _sparse_rejection(header.name)
        if header.type in _EXTENDED_HEADER_TYPES and header.size > MAX_EXTENDED_HEADER_BYTES:
            raise RejectedArtifact(
                f"corrupt tar: an extended header (type {header.type.decode(errors='replace')!r}) of "
                f"{header.size} bytes exceeds the limit of {_size(MAX_EXTENDED_HEADER_BYTES)}"
            )
        return header

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> Self:
        if not isinstance(archive, _ArchiveReader):  # pragma: no cover - only used by _ArchiveReader
            return super().fromtarfile(archive)
        if archive.header_chain == 0:
            archive.last_header_error = None
        archive.header_chain += 1
        try:
            if archive.header_chain > MAX_CHAINED_HEADERS:
                raise RejectedArtifact(
                    f"corrupt tar: more than {MAX_CHAINED_HEADERS} extended headers in a row"
                )
            return super().fromtarfile(archive)
        except tarfile.HeaderError as error:
            archive.last_header_error = error
            raise
        finally:
            archive.header_chain -= 1

    # tarfile's pax sparse readers loop over attacker-chosen counts; sparse members are refused anyway.
    def _proc_gnusparse_00(self, *_args: object) -> None:
        raise _sparse_rejection(None)

    def _proc_gnusparse_01(self, *_args: object) -> None:
        raise _sparse_rejection(None)

    def _proc_gnusparse_10(self, *_args: object) -> None:
        raise _sparse_rejection(None)


class _ArchiveReader(tarfile.TarFile):
    """A TarFile over a _ForwardFile that checks its headers and remembers why parsing stopped."""

    tarinfo = _CheckedTarInfo
    members: list[tarfile.TarInfo]  # set by TarFile.__init__; undocumented, absent from typeshed
    last_header_error: tarfile.HeaderError | None = None
    header_chain = 0


@dataclass
class _Census:
    limits: ArchiveLimits
    member_count: int = 0
    directory_count: int = 0
    regular_file_count: int = 0
    regular_files: list[str] = field(default_factory=list)
    # Each path a member extracts to (a 16-byte digest: constant memory per member, whatever the
    # name's length) -> the first such member's name as quoted in reasons.
    extraction_paths: dict[bytes, str] = field(default_factory=dict)

    def admit(self, member: tarfile.TarInfo) -> None:
        self.member_count += 1
        if self.member_count > self.limits.max_members:
            raise RejectedArtifact(
                f"the archive has more than {self.limits.max_members} members, the limit on members"
            )
        if member.size < 0:
            raise RejectedArtifact(f"corrupt tar: member {_shown(member.name)} declares a negative size")
        problem = _name_problem(member.name)
        if problem is not None:
            raise RejectedArtifact(f"member {_shown(member.name)} {problem}")
        if member.type == tarfile.DIRTYPE:
            self.directory_count += 1
        elif member.type in _REGULAR_TYPES:
            self._admit_regular_file(member)
        elif member.type in _FORBIDDEN_TYPES:
            link = f" (to {_shown(member.linkname)})" if member.issym() or member.islnk() else ""
            raise RejectedArtifact(
                f"member {_shown(member.name)} is {_FORBIDDEN_TYPES[member.type]}{link}; "
                f"{_ONLY_FILES_AND_DIRECTORIES}"
            )
        else:
            kind = member.type.decode("latin-1")
            raise RejectedArtifact(
                f"member {_shown(member.name)} has unsupported member type {kind!r}; "
                f"{_ONLY_FILES_AND_DIRECTORIES}"
            )
        self._admit_path(member.name)

    def _admit_path(self, name: str) -> None:
        """Two members extracting to one path: the later one silently replaces the earlier (or fails
        half-way, a file over a directory), so what was validated is not what is served."""
        path = extraction_path(name)
        digest = hashlib.blake2b(path.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        earlier = self.extraction_paths.get(digest)
        if earlier is None:
            self.extraction_paths[digest] = _shown(name)
            return
        where = f"the same path {_shown(path)}" if path else "the archive root"
        raise RejectedArtifact(
            f"member {_shown(name)} extracts to {where} as member {earlier} before it: extracting "
            "would replace one with the other, so which one SageMaker loads depends on the extractor; "
            "keep one member per path"
        )

    def _admit_regular_file(self, member: tarfile.TarInfo) -> None:
        if member.sparse is not None:  # pragma: no cover - _CheckedTarInfo refuses sparse headers first
            raise _sparse_rejection(member.name)
        if member.size > self.limits.max_uncompressed_bytes:
            raise RejectedArtifact(
                f"member {_shown(member.name)} declares {_size(member.size)}, more than "
                f"{_size(self.limits.max_uncompressed_bytes)}, the limit on uncompressed size"
            )
        self.regular_file_count += 1
        if len(self.regular_files) < MAX_LISTED_REGULAR_FILES:
            self.regular_files.append(member.name)


def extraction_path(name: str) -> str:
    """The path a member extracts to, as extractors normalise it: empty and "." components dropped
    (`./model.pth`, `model.pth` and `.//model.pth` are one file; `code/` and `code` one directory).
    Names are otherwise compared exactly: SageMaker extracts on Linux, where `\\` is an ordinary
    character, case matters and names are bytes (no Unicode normalisation)."""
    return "/".join(part for part in name.split("/") if part not in ("", "."))


def _name_problem(name: str) -> str | None:
    """What makes `name` unsafe to extract (phrased to follow "member <name>"), or None if it is safe."""
    if "\0" in name:
        return "has a NUL character in its name"
    if not name:
        return "has an empty name"
    if undecoded := _UNDECODED_BYTE.search(name):
        byte = ord(undecoded.group()) - 0xDC00
        shown = f"byte 0x{byte:02x}" if 0x80 <= byte <= 0xFF else "a byte sequence"
        return (
            f"has a name that is not valid UTF-8 ({shown} at character {undecoded.start()}): SageMaker's "
            "containers and Python tooling read member names as UTF-8 and would mangle or refuse it; "
            "rename the file with a UTF-8 name (or re-create the archive on a system with a UTF-8 locale)"
        )
    if control := _CONTROL_CHARACTER.search(name):
        return (
            f"has a control character (U+{ord(control.group()):04X}) at character {control.start()} of "
            "its name: it hides what the name is in listings and logs; rename the file with printable "
            "characters only"
        )
    if len(name) > MAX_NAME_LENGTH:
        return f"has a name of {len(name)} characters; the limit is {MAX_NAME_LENGTH}"
    if name.startswith("/"):
        return "is an absolute path; member paths must be relative to the archive root"
    if name.startswith("\\"):
        return "starts with a backslash (an absolute Windows path); member paths must be relative"
    components = _PATH_SEPARATORS.split(name)
    # "./C:x" is "C:x" once the "." is dropped, as extractors do: the drive check skips "." and "".
    first = next((c for c in components if c not in ("", ".")), "")
    if _WINDOWS_DRIVE.match(first):
        return "starts with a Windows drive letter; member paths must be relative to the archive root"
    if ".." in components:
        return "has a '..' path component, which would escape the extraction directory"
    return None


def _read_members(inflated: _ForwardFile, limits: ArchiveLimits) -> _Census:
    census = _Census(limits)
    reader = _parse_tar(
        lambda: _ArchiveReader(fileobj=inflated, mode="r", encoding="utf-8"),
        after=None,
    )
    previous: tarfile.TarInfo | None = None
    while (member := _parse_tar(reader.next, after=previous)) is not None:
        census.admit(member)
        if len(reader.pax_headers) > MAX_GLOBAL_PAX_RECORDS:
            raise RejectedArtifact(
                f"corrupt tar: global pax headers hold more than {MAX_GLOBAL_PAX_RECORDS} records"
            )
        reader.members.clear()  # tarfile keeps every member it reads; a census is enough
        previous = member
    _check_end_of_archive(reader.last_header_error, previous)
    if census.regular_file_count == 0:
        only = f" (only {census.directory_count} directories)" if census.directory_count else ""
        raise RejectedArtifact(f"the archive contains no regular files{only}")
    return census


def _parse_tar(step: Callable[[], _T], *, after: tarfile.TarInfo | None) -> _T:
    """Run one tarfile parsing step; turn whatever it raises about the bytes into a rejection."""
    try:
        return step()
    except (RejectedArtifact, _NotAboutTheArchive):
        raise
    except tarfile.ReadError as error:
        detail = str(error)
        if after is None:
            if detail == "empty file":
                raise RejectedArtifact("not a tar archive: the gzip data is empty") from error
            raise RejectedArtifact(
                f"not a tar archive: the gzip data does not start with a valid tar header ({detail})"
            ) from error
        if detail == "unexpected end of data":
            raise RejectedArtifact(
                f"truncated tar: the archive ends inside member {_shown(after.name)} "
                f"(which declares {after.size} bytes)"
            ) from error
        raise RejectedArtifact(
            f"corrupt tar: cannot read the header after member {_shown(after.name)} ({detail})"
        ) from error
    except Exception as error:  # tarfile parsing untrusted bytes can fail in many other ways
        where = f"after member {_shown(after.name)}" if after else "at the start of the archive"
        raise RejectedArtifact(
            f"corrupt tar: cannot read the header {where} ({type(error).__name__}: {error})"
        ) from error


def _check_end_of_archive(stopped_by: tarfile.HeaderError | None, last: tarfile.TarInfo | None) -> None:
    """tarfile ends its iteration on any bad header; only a zero block is a real end of archive."""
    if isinstance(stopped_by, _END_OF_ARCHIVE):
        return
    after = f"after member {_shown(last.name)}" if last else "at the start"
    if isinstance(stopped_by, _NOTHING_LEFT):
        raise RejectedArtifact(f"truncated tar: the archive ends {after} without the end-of-archive marker")
    if isinstance(stopped_by, _CUT_HEADER):
        raise RejectedArtifact(f"truncated tar: the archive ends inside the header {after}")
    raise RejectedArtifact(
        f"corrupt tar: the header {after} is invalid ({stopped_by}); the members that follow it "
        "cannot be checked"
    )


def _check_nothing_after_the_end(inflated: _ForwardFile) -> None:
    """Only zero padding may follow the end-of-archive marker (the zero block tarfile stopped at).

    `tar -x` stops at that block, but `tar -x --ignore-zeros` (`-i`) reads on and extracts any member
    after it, as do extractors that skip zero blocks: a member hidden there (a second archive
    appended, or a further gzip member holding one) would be published unchecked. GNU tar, bsdtar and
    Python's tarfile pad the archive with zeros only (to a 10 KiB record), so nothing legitimate is lost.
    """
    marker_end = inflated.tell()
    position = inflated.skip_zeros()
    if position is None:
        return
    offset_in_block = position % tarfile.BLOCKSIZE
    block = bytes(offset_in_block) + inflated.read(tarfile.BLOCKSIZE - offset_in_block)
    found = _hidden_header(block) or "data other than zero bytes"
    raise RejectedArtifact(
        f"data after the end of the tar archive: the end-of-archive marker (a zero block) ends at byte "
        f"{marker_end} of the uncompressed tar, and byte {position} holds {found}. `tar -x` stops at the "
        "marker but `tar -x --ignore-zeros` and other extractors read on, so what follows cannot be "
        "checked; only zero padding may follow the marker: build the archive with one `tar -czf` "
        "(never by concatenating archives)"
    )


def _hidden_header(block: bytes) -> str | None:
    """What a tar header in `block` describes ("a tar header of member 'x'"), None if it is none."""
    if len(block) < tarfile.BLOCKSIZE:
        return None
    try:
        header = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except Exception:  # not a header (bad checksum...): plain data
        return None
    if header.type in _EXTENDED_HEADER_TYPES:
        return "a tar extended header (of further members)"
    return f"a tar header of member {_shown(header.name)}"


def _sparse_rejection(name: str | None) -> RejectedArtifact:
    member = f"member {_shown(name)}" if name is not None else "a member"
    return RejectedArtifact(f"{member} is a sparse file; {_ONLY_FILES_AND_DIRECTORIES}")


def _shown(name: str) -> str:
    """A member name as quoted in reasons: repr (control characters visible), long names shortened."""
    return repr(name) if len(name) <= 200 else repr(name[:200]) + "..."


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024**2:
        return f"{count / 1024:.1f} KiB"
    if count < 1024**3:
        return f"{count / 1024**2:.1f} MiB"
    return f"{count / 1024**3:.1f} GiB"
