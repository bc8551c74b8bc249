"""TFRecord files written and checked in pure Python, without TensorFlow.

Worker processes that write shards need not import TensorFlow (seconds of start-up and
hundreds of MB per process): the framing is TFRecord's documented one (uint64 length,
uint32 masked CRC32C of the length, the data, uint32 masked CRC32C of the data,
little-endian), and the data a ``tf.train.Example`` of int64 features encoded by hand
(protobuf wire format), byte for byte what TensorFlow's deterministic serialization gives.
:func:`verify_shard` checks every record of a file. DeepMoji's prepared corpora
(:mod:`rnnkit.models.deepmoji.corpus`) write their shards with these; the tests read them
back with ``tf.data.TFRecordDataset``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["frame", "int64_example", "int64_feature", "masked_crc", "verify_shard"]


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def _crc32c(data: bytes) -> int:
    table, c = _CRC_TABLE, 0xFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC32C of ``data``."""
    c = _crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL_VARINTS = [_varint(i) for i in range(1 << 16)]  # word ids of usual vocabularies


def int64_feature(name: bytes, values: Sequence[int]) -> bytes:
    """One ``name -> Int64List(values)`` entry of a ``tf.train.Features`` map (values >= 0)."""
    small = _SMALL_VARINTS
    packed = b"".join(small[v] if v < 65536 else _varint(v) for v in values)  # values >= 0
    int64_list = b"\x0a" + _varint(len(packed)) + packed
    feature = b"\x1a" + _varint(len(int64_list)) + int64_list
    entry = b"\x0a" + _varint(len(name)) + name + b"\x12" + _varint(len(feature)) + feature
    return b"\x0a" + _varint(len(entry)) + entry


def int64_example(features: Mapping[bytes, Sequence[int]]) -> bytes:
    """A serialized ``tf.train.Example`` of int64 features (values >= 0), its map entries
    in key order, as protobuf's deterministic serialization writes them.

    Example:

    >>> int64_example({b"label": [3]}) == tf.train.Example(features=tf.train.Features(
    ...     feature={"label": tf.train.Feature(int64_list=tf.train.Int64List(value=[3]))}
    ... )).SerializeToString(deterministic=True)  # doctest: +SKIP
    True
    """
    body = b"".join(int64_feature(name, features[name]) for name in sorted(features))
    return b"\x0a" + _varint(len(body)) + body


def frame(data: bytes) -> bytes:
    """``data`` framed as one TFRecord record (length, its CRC, data, its CRC)."""
    length = struct.pack("<Q", len(data))
    return (
        length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))
    )


def verify_shard(path: str | os.PathLike, maxlen: int | None = None) -> int:
    """Check every record of a TFRecord shard (framing, both CRCs) without TensorFlow.

    Args:
        path: the shard file.
        maxlen: not used for the check of the framing; kept for symmetry with the
            manifest (the ids length is checked when reading).

    Returns:
        The number of records.

    Raises:
        ValueError: naming the shard, the record index and its byte offset, for a
            truncated record or a CRC mismatch.

    Example:

    >>> verify_shard("corpus/train-00000-0000.tfrecord")  # doctest: +SKIP
    100000
    """
    path = Path(path)
    n, offset = 0, 0
    with open(path, "rb") as f:
        while True:
            head = f.read(12)
            if not head:
                return n
            where = f"shard {path.name}: record {n} (byte {offset})"
            if len(head) < 12:
                raise ValueError(f"{where} is truncated (an incomplete length header).")
            (length,) = struct.unpack("<Q", head[:8])
            if struct.unpack("<I", head[8:])[0] != masked_crc(head[:8]):
                raise ValueError(f"{where} is corrupt (the length's CRC does not match).")
            data = f.read(length)
            crc = f.read(4)
            if len(data) < length or len(crc) < 4:
                raise ValueError(f"{where} is truncated ({length} bytes of data expected).")
            if struct.unpack("<I", crc)[0] != masked_crc(data):
                raise ValueError(f"{where} is corrupt (the data's CRC does not match).")
            n += 1
            offset += 16 + length
