"""A fixed-memory set of seen texts (a Bloom filter), for dropping exact duplicates.

Memory is fixed by the capacity and the error rate, never by the stream: about
``capacity * 3.6`` bytes at an error rate of 1e-6. DeepMoji's distant supervision and its
prepared corpora (``rnnkit/models/deepmoji/``) drop repeated texts with it.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

__all__ = ["BloomFilter"]


class BloomFilter:
    """Fixed-memory set of seen texts (false positives at about ``error_rate``).

    :meth:`add` takes one text; :meth:`add_digests` a batch of :meth:`digest` values with
    exactly the answers of calling :meth:`add` on them one after another (so a pipeline can
    hash texts in worker processes and decide duplicates in one process, in input order).
    """

    def __init__(self, capacity: int, error_rate: float):
        self.size = max(64, math.ceil(-capacity * math.log(error_rate) / math.log(2) ** 2))
        self.k = max(1, round(self.size / capacity * math.log(2)))
        self.bits = np.zeros((self.size + 7) // 8, dtype=np.uint8)

    @staticmethod
    def digest(text: str) -> bytes:
        """The 16-byte hash of ``text`` the filter works on."""
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def add(self, text: str) -> bool:
        """Add ``text``; True if it was (probably) already there."""
        digest = self.digest(text)
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        seen = True
        for i in range(self.k):
            pos = (h1 + i * h2) % self.size
            byte, bit = pos >> 3, 1 << (pos & 7)
            if not self.bits[byte] & bit:
                seen = False
                self.bits[byte] |= bit
        return seen

    def add_digests(self, digests: np.ndarray) -> np.ndarray:
        """Add a batch of digests (``uint8 (n, 16)`` or ``bytes`` of ``16 n``) in order.

        Returns:
            ``bool (n,)``: True where :meth:`add` would have said "already there" had the
            texts been added one by one in this order.
        """
        d = np.frombuffer(bytes(digests), dtype="<u8").reshape(-1, 2)
        n = len(d)
        if n == 0:
            return np.zeros(0, bool)
        size = np.uint64(self.size)
        a = d[:, 0] % size  # (h1 + i h2) mod size without 64-bit overflow
        b = (d[:, 1] | np.uint64(1)) % size
        pos = (a[:, None] + np.arange(self.k, dtype=np.uint64)[None, :] * b[:, None]) % size
        flat = pos.ravel()
        byte, bit = flat >> np.uint64(3), (1 << (flat & np.uint64(7))).astype(np.uint8)
        before = (self.bits[byte] & bit) != 0
        # The first item of the batch that sets each position (items are in row order).
        _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
        setter = (first // self.k)[inverse.ravel()]
        item = np.repeat(np.arange(n), self.k)
        seen = (before | (setter < item)).reshape(n, self.k).all(axis=1)
        np.bitwise_or.at(self.bits, byte, bit)
        return seen
