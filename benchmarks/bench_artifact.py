"""Throughput of artifact validation, as a ratio against gunzip + sha256 of the same file in the same run.

Builds a ~64 MiB tar.gz of incompressible data in a temporary file, then times
- the validator: `validate_archive` streaming the file;
- the reference: the least any validator must do, a zlib inflate of the file read in 1 MiB chunks
  (output bounded to 1 MiB per call) plus sha256 of the compressed bytes.
Each is run a few times and the best time kept. Run with `make bench` or
`.venv/bin/python benchmarks/bench_artifact.py`.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from sluice.domain.artifact import ArchiveLimits, validate_archive

MIB = 1024 * 1024
ARCHIVE_MIB = 64
FILES = 8
ROUNDS = 3
CHUNK = MIB


def build_archive(path: Path) -> None:
    """A tar.gz of FILES files, ARCHIVE_MIB MiB of pseudo-random bytes in all, written as a stream."""
    noise = random.Random(20240501)  # noqa: S311 - reproducible filler, not secrets
    file_size = ARCHIVE_MIB * MIB // FILES
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT) as archive,
    ):
        for index in range(FILES):
            info = tarfile.TarInfo(f"model/shard-{index:02}.bin")
            info.size = file_size
            archive.addfile(info, _NoiseReader(noise, file_size))


class _NoiseReader:
    """A file object over `size` pseudo-random bytes, produced as they are read."""

    def __init__(self, noise: random.Random, size: int) -> None:
        self._noise = noise
        self._left = size

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        self._left -= size
        return self._noise.randbytes(size)


def validator(path: Path) -> int:
    with path.open("rb") as stream:
        return validate_archive(stream, ArchiveLimits(chunk_size=CHUNK)).uncompressed_bytes


def reference(path: Path) -> int:
    """gunzip + sha256, nothing else. Output is bounded to a chunk per call (`max_length`), as any
    streaming reader must; that is also zlib's fastest way here (no growing output buffer)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    digest = hashlib.sha256()
    inflated = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            while chunk:
                # Bound to a name, not dropped at once: CPython/glibc then reuse the 1 MiB buffer
                # instead of mapping fresh pages each call, which made this reference 1.5x slower.
                out = inflater.decompress(chunk, CHUNK)
                inflated += len(out)
                chunk = inflater.unconsumed_tail
    digest.hexdigest()
    return inflated


def best_time(run: Callable[[Path], int], path: Path) -> tuple[float, int]:
    times = []
    inflated = 0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        inflated = run(path)
        times.append(time.perf_counter() - started)
    return min(times), inflated


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.tar.gz"
        build_archive(path)
        compressed = path.stat().st_size
        reference_seconds, reference_inflated = best_time(reference, path)
        validator_seconds, validator_inflated = best_time(validator, path)
    assert validator_inflated == reference_inflated, (validator_inflated, reference_inflated)
    print(
        f"archive: {compressed / MIB:.1f} MiB compressed, {validator_inflated / MIB:.1f} MiB inflated; "
        f"best of {ROUNDS}"
    )
    print(f"reference (gunzip + sha256): {reference_seconds:.3f} s")
    print(f"validate_archive:            {validator_seconds:.3f} s")
    print(
        f"artifact validation: {validator_seconds / reference_seconds:.2f}x the cost of gunzip+sha256 "
        f"(reference), {compressed / MIB / validator_seconds:.0f} MiB/s"
    )


if __name__ == "__main__":
    main()
