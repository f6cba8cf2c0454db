"""The archive validation limits of the settings (README "Limits")."""

from __future__ import annotations

from sluice.domain.artifact import ArchiveLimits
from sluice.settings import Settings


def archive_limits(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(
        max_members=settings.max_archive_members,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
        max_compression_ratio=settings.max_compression_ratio,
    )
