"""A character map as SentencePiece's ``precompiled_charsmap``: the blob that
``tokenizers.normalizers.Precompiled`` (and so every fast XLM-R tokenizer) reads.

Layout, as the readers take it (sentencepiece's normalizer, the ``spm_precompiled`` crate):
``u32 trie size in bytes | trie: u32 units of a Darts-clone double array | replacement strings,
each NUL-terminated``. A key's value in the trie is the byte offset of its replacement.

Darts-clone units: a node's children sit at ``base ^ label`` where ``base = position ^
offset(unit)``; a child's unit holds its label in bits 0-7 and, in bit 8, whether a key ends
there, in which case the slot ``base ^ 0`` of that child holds the value with bit 31 set (so it
never matches a label). The offset is stored in bits 10-30 (bit 9 would scale it by 256; the
tables here are small enough never to need it). The array is a whole number of 256-unit blocks.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

_LEAF_BIT = 1 << 8
_VALUE_BIT = 1 << 31
_MAX_OFFSET = 1 << 21


@dataclass
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    value: int | None = None


def precompiled_charsmap(table: Mapping[str, str]) -> bytes:
    """The blob mapping each key of ``table`` to its replacement (``""`` deletes the key).

    Keys must be non-empty and free of NUL. Lookups take the *shortest* key that prefixes the
    input, so a table of single code points (UTF-8 is prefix-free) is looked up exactly.
    """
    strings, offsets = bytearray(), {}
    root = _Node()
    for key, replacement in sorted(table.items()):
        raw = key.encode("utf-8")
        if not raw or b"\0" in raw or "\0" in replacement:
            raise ValueError(f"charsmap key {key!r} must be non-empty and without NUL")
        if replacement not in offsets:
            offsets[replacement] = len(strings)
            strings += replacement.encode("utf-8") + b"\0"
        node = root
        for byte in raw:
            node = node.children.setdefault(byte, _Node())
        node.value = offsets[replacement]
    units = _DoubleArray().build(root)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


class _DoubleArray:
    """First-fit placement of a byte trie into XOR-addressed slots."""

    def __init__(self) -> None:
        self.units: list[int] = [0]
        self.used = [True]  # slot 0 is the root
        self.bases: set[int] = set()
        self.first_free = 1

    def build(self, root: _Node) -> list[int]:
        pending = [(0, root)]
        while pending:
            position, node = pending.pop()
            labels = ([0] if node.value is not None else []) + sorted(node.children)
            if not labels:
                continue
            base = self._find_base(labels)
            offset = position ^ base
            if offset >= _MAX_OFFSET:
                raise ValueError("character map too large for a plain Darts-clone offset")
            self.units[position] |= offset << 10
            if node.value is not None:
                self._take(base, node.value | _VALUE_BIT)
            for label, child in node.children.items():
                leaf = _LEAF_BIT if child.value is not None else 0
                self._take(base ^ label, label | leaf)
                pending.append((base ^ label, child))
        # Readers index ``base ^ label`` for any byte without a bounds check: whole 256-slot
        # blocks keep every such index inside the array, as Darts-clone's own arrays do.
        self.units += [0] * (-len(self.units) % 256)
        return self.units

    def _find_base(self, labels: list[int]) -> int:
        # Try bases that put the first label on a free slot, from the lowest free slot up.
        free = self.first_free
        while True:
            while free < len(self.used) and self.used[free]:
                free += 1
            base = free ^ labels[0]
            if base not in self.bases and all(
                (base ^ label) >= len(self.used) or not self.used[base ^ label]
                for label in labels
            ) and all(base ^ label != 0 for label in labels):
                self.bases.add(base)
                return base
            free += 1

    def _take(self, slot: int, unit: int) -> None:
        if slot >= len(self.units):
            grow = slot + 1 - len(self.units)
            self.units += [0] * grow
            self.used += [False] * grow
        self.units[slot] = unit
        self.used[slot] = True
        while self.first_free < len(self.used) and self.used[self.first_free]:
            self.first_free += 1
