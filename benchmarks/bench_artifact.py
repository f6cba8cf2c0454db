"""Archive validation: throughput against `gzip -dc`, and peak memory on a 2 GiB archive.

The archives hold what model archives hold: a few shards of float32 weights (gaussian, sigma 0.02, as
trained weights are: gzip shrinks them to ~0.93 of their size, unlike random bytes, which do not
compress at all) and a small config.json, as a single-member tar.gz at gzip's default level 6 (zlib's,
as Python's tarfile writes them; GNU gzip -6's output of the same tar inflated within 10 % of it).

Building 1-2 GiB of such data in Python would take minutes (a gaussian costs ~0.8 us, compressing
~20 MiB/s), so a pool of 4 MiB of gaussians is generated and compressed once, as raw deflate ending
on a byte boundary (Z_SYNC_FLUSH), and written as many times as the shards need; tar headers and the
end-of-archive blocks are compressed the same way between them, and a gzip header and trailer (CRC-32
and size of the whole tar) wrap it all. The result is one valid gzip member, as pigz writes them
(independent blocks at flush points): deflate cannot see back further than 32 KiB, so repeating a
4 MiB pool changes nothing for the inflater, and every byte still has to be read, inflated and hashed.

Figures (group "archive validation"):
- validate_archive over ~1 GiB, against `gzip -dc archive > /dev/null` (a subprocess) on the same
  file; interleaved rounds, best of each. Goal: ratio <= 1.0 (stretch: <= 0.5).
- the same against gunzip + sha256 done in Python (zlib in 1 MiB chunks): the least a validator
  written in Python must do.
- peak RSS of a child process validating a 2 GiB archive, against a child that only imports the
  validator. Goal: <= 128 MiB.

Run with `make bench` (benchmarks/run.py) or `.venv/bin/python benchmarks/bench_artifact.py [--quick]`.
"""

from __future__ import annotations

import array
import hashlib
import json
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from figures import Figure, table

from sluice.domain.artifact import ArchiveLimits, validate_archive

GROUP = "archive validation"
MIB = 1024 * 1024
CHUNK = MIB
SHARDS = 4
POOL_FLOATS = MIB  # 4 MiB of float32 weights, written over and over
LEVEL = 6  # gzip's and `tar czf`'s default
SIZES = {  # quick: (speed archive, RSS archive) inflated MiB, rounds
    False: (1024, 2048, 3),
    True: (16, 32, 1),
}
RSS_GOAL_MIB = 128


# --- archives ---------------------------------------------------------------------------------------


class _Deflater:
    """Raw deflate pieces, each complete and byte-aligned, concatenated into one gzip member."""

    def __init__(self, out: BinaryIO, level: int) -> None:
        self._out = out
        self._level = level
        self.crc = 0
        self.size = 0
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # gzip, deflate, mtime 0, unknown OS

    def piece(self, data: bytes) -> bytes:
        compressor = zlib.compressobj(self._level, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)

    def write(self, data: bytes, compressed: bytes | None = None) -> None:
        """Append `data`, already compressed by `piece` if given (the pool is compressed once)."""
        self._out.write(compressed if compressed is not None else self.piece(data))
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)

    def finish(self) -> None:
        self._out.write(zlib.compressobj(self._level, zlib.DEFLATED, -zlib.MAX_WBITS).flush())
        self._out.write(self.crc.to_bytes(4, "little") + (self.size % 2**32).to_bytes(4, "little"))


def weights_pool(seed: int = 20240501) -> bytes:
    """POOL_FLOATS float32 gaussian weights (mean 0, sigma 0.02)."""
    noise = random.Random(seed)  # noqa: S311 - reproducible filler, not secrets
    return array.array("f", [noise.gauss(0.0, 0.02) for _ in range(POOL_FLOATS)]).tobytes()


def build_archive(path: Path, inflated_mib: int, pool: bytes) -> None:
    """A tar.gz of a config.json and SHARDS weight shards, `inflated_mib` MiB in all."""
    pools_per_shard = max(1, inflated_mib * MIB // SHARDS // len(pool))
    config = json.dumps({"architecture": "bench", "dtype": "float32", "shards": SHARDS}).encode()
    with path.open("wb") as out:
        deflate = _Deflater(out, LEVEL)
        compressed_pool = deflate.piece(pool)
        deflate.write(
            _header("config.json", len(config)) + config + b"\0" * (-len(config) % tarfile.BLOCKSIZE)
        )
        for index in range(SHARDS):
            deflate.write(_header(f"model-{index + 1:05}-of-{SHARDS:05}.pth", pools_per_shard * len(pool)))
            for _ in range(pools_per_shard):
                deflate.write(pool, compressed=compressed_pool)
        end = 2 * tarfile.BLOCKSIZE  # end-of-archive marker, then padding to a whole record, as tar does
        end += -(deflate.size + end) % tarfile.RECORDSIZE
        deflate.write(b"\0" * end)
        deflate.finish()


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    return info.tobuf(tarfile.USTAR_FORMAT)


# --- measurements -----------------------------------------------------------------------------------


def validator(path: Path) -> int:
    with path.open("rb") as stream:
        return validate_archive(stream, ArchiveLimits(chunk_size=CHUNK)).uncompressed_bytes


def gzip_dc(path: Path) -> int:
    """`gzip -dc archive > /dev/null`: what the command line does to check an archive, in C."""
    gzip = shutil.which("gzip")
    if gzip is None:
        raise RuntimeError("gzip(1) is not on PATH: it is this benchmark's reference")
    subprocess.run([gzip, "-dc", str(path)], stdout=subprocess.DEVNULL, check=True)  # noqa: S603
    return 0


def python_gunzip_sha256(path: Path) -> int:
    """gunzip + sha256 in Python, nothing else. Output is bounded to a chunk per call (`max_length`),
    as any streaming reader must; that is also zlib's fastest way here (no growing output buffer)."""
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


def interleaved(
    runs: dict[str, Callable[[Path], int]], path: Path, rounds: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds of each run, `rounds` times, taking turns so that a busy moment hits them all alike;
    and what each run returned (bytes inflated)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    returned: dict[str, int] = {}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            returned[name] = run(path)
            times[name].append(time.perf_counter() - started)
    return times, returned


# The child reads its peak RSS from VmHWM, not getrusage: Linux carries the parent's peak over into
# the child's ru_maxrss across fork/vfork + exec, so a parent that once held a few hundred MiB would
# make every child look as big (this parent peaks at ~65 MiB building the pool of weights).
_CHILD = """
import json, sys, time
from sluice.domain.artifact import ArchiveLimits, validate_archive
started = time.perf_counter()
if len(sys.argv) > 1:
    with open(sys.argv[1], "rb") as stream:
        validate_archive(stream, ArchiveLimits(chunk_size={chunk}))
seconds = time.perf_counter() - started
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({{"maxrss_kib": peak, "seconds": seconds}}))
"""


def child_peak_rss(*argv: str) -> dict[str, float]:
    """Peak RSS (KiB; Linux's VmHWM) and seconds of a fresh interpreter that imports the validator and,
    given a path, validates that archive."""
    code = _CHILD.format(chunk=CHUNK)
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# --- figures ----------------------------------------------------------------------------------------


def run(quick: bool = False) -> list[Figure]:
    speed_mib, rss_mib, rounds = SIZES[quick]
    pool = weights_pool()
    with tempfile.TemporaryDirectory(prefix="sluice-bench-artifact-") as directory:
        path = Path(directory) / "model.tar.gz"
        started = time.perf_counter()
        build_archive(path, speed_mib, pool)
        built = time.perf_counter() - started
        compressed = path.stat().st_size  # just written: in the page cache, as the runs need it
        times, returned = interleaved(
            {"validate": validator, "gzip -dc": gzip_dc, "python": python_gunzip_sha256}, path, rounds
        )
        inflated = returned["validate"]
        if returned["python"] != inflated:
            raise AssertionError(f"the validator and the reference inflated different sizes: {returned}")
        path.unlink()

        build_archive(path, rss_mib, pool)
        rss_compressed = path.stat().st_size
        validating = child_peak_rss(str(path))
        importing = child_peak_rss()
    best = {name: min(samples) for name, samples in times.items()}
    archive = {
        "compressed_mib": round(compressed / MIB, 1),
        "inflated_mib": round(inflated / MIB, 1),
        "gzip_ratio": round(compressed / inflated, 3),
        "build_seconds": round(built, 2),
        "rounds": rounds,
        "validate_mib_per_s": round(compressed / MIB / best["validate"], 1),
        "median_seconds": {name: round(statistics.median(samples), 3) for name, samples in times.items()},
    }
    speed_vs_gzip = best["validate"] / best["gzip -dc"]
    validating_mib = validating["maxrss_kib"] / 1024
    return [
        Figure(
            group=GROUP,
            name=f"validate_archive, {_size(speed_mib)} of weights (best of {rounds})",
            value=best["validate"],
            unit="s",
            reference="gzip -dc > /dev/null",
            reference_value=best["gzip -dc"],
            goal="ratio <= 1.0 (stretch <= 0.5)",
            met=speed_vs_gzip <= 1.0,
            detail={**archive, "samples": times},
        ),
        Figure(
            group=GROUP,
            name="validate_archive vs gunzip + sha256 in Python",
            value=best["validate"],
            unit="s",
            reference="zlib + hashlib loop",
            reference_value=best["python"],
            detail={"samples": {k: times[k] for k in ("validate", "python")}},
        ),
        Figure(
            group=GROUP,
            name=f"peak RSS validating {_size(rss_mib)} (child process)",
            value=validating_mib,
            unit="MiB",
            reference="child importing the validator",
            reference_value=importing["maxrss_kib"] / 1024,
            goal=f"<= {RSS_GOAL_MIB} MiB",
            met=validating_mib <= RSS_GOAL_MIB,
            detail={
                "compressed_mib": round(rss_compressed / MIB, 1),
                "validate_seconds": round(validating["seconds"], 2),
            },
        ),
    ]


def _size(mib: int) -> str:
    return f"{mib} MiB" if mib < 1024 else f"{mib / 1024:g} GiB"


def main() -> None:
    print(table(run(quick="--quick" in sys.argv[1:])))


if __name__ == "__main__":
    main()
