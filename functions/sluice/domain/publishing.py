"""Publishing a validated object version to a key that never changes: copied once, never overwritten.

Multi-model versions (`<prefix>/<model>/v<N>.tar.gz`) and a rollout's model data
(`published/endpoints/<endpoint>/<version>/<sha256>/model.tar.gz`) are both published here. The copy is
of the exact source version that was validated (by its S3 version id), so a later upload to the same
key changes nothing SageMaker loads.
"""

from __future__ import annotations

from sluice.domain.ports import SHA256_METADATA, ObjectHead, ObjectStore


def publish_once(
    store: ObjectStore, source: ObjectHead, bucket: str, key: str, *, sha256: str
) -> ObjectHead | None:
    """Copy `source` (its version) to bucket/key, or find the copy an earlier attempt made there.

    Returns the published object; None when the key already holds other bytes, which are never
    overwritten (what that means is the caller's decision).
    """
    occupant = store.head(bucket, key)
    if occupant is None:
        return store.copy_published(source, bucket, key, sha256=sha256)
    if occupant.metadata.get(SHA256_METADATA) == sha256:
        return occupant  # a retried event: the copy already landed
    return None
