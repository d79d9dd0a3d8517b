"""Inclusion proofs for the RFC 6962 trees the checkpoints sign (hashing: chanwatch.proofcheck)."""

from __future__ import annotations

from collections.abc import Sequence

from chanwatch.proofcheck import leaf_hash, merkle_levels, merkle_root

__all__ = ["audit_path", "leaf_hash", "merkle_levels", "merkle_root"]


def audit_path(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The sibling hashes from leaf `index` up to the root, in the order RFC 9162 checks them."""
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
    return path
