"""CRC-32 of blob contents: how downloads check what they read cheaply.

Every blob's CRC-32 is recorded when it is ingested, beside its SHA-256 (its name). Reading it back,
a CRC-32 catches what goes wrong in storage and transit (any burst of up to 32 bits, and other
corruption but for one chance in 2**32) at an eighth of SHA-256's CPU cost with ISA-L's kernels;
SHA-256 stays the check against deliberate substitution, for whoever asks for it
(`mlops datasets download --verify sha256`) and for blobs stored before CRCs were recorded.
"""

from __future__ import annotations

from enum import StrEnum

from isal import isal_zlib

# zlib's polynomial and conventions: the value gzip and zip record for a member.
crc32 = isal_zlib.crc32


class Verification(StrEnum):
    """What a download checks each blob against."""

    # The CRC-32 recorded at ingest where there is one, else the SHA-256.
    CRC32 = "crc32"
    # Always the SHA-256 the blob is named by.
    SHA256 = "sha256"
