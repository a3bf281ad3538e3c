"""Where task rows come from: a hub dataset (``datasets.load_dataset``, from its cache when the
hub is unreachable) or a local copy in the hub schema (``--data DIR``).

Local layout: ``DIR/<config>/<split>.jsonl`` (or ``.json``, ``.parquet``, or a ``save_to_disk``
directory ``DIR/<config>/<split>``, or a saved ``DatasetDict`` at ``DIR/<config>``), one
subdirectory per hub config name (``en``, ``es``, ``xquad.es``, ``mlqa.es.en``, ``spa-eng``),
rows exactly as on the hub.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset

log = logging.getLogger(__name__)

HUB_HOST = "huggingface.co"


@dataclass(frozen=True)
class Source:
    """One split of one hub dataset config."""

    hub_id: str  # e.g. facebook/xnli
    config: str  # hub config name, also the subdirectory name under --data
    split: str  # train | validation | test


def layout_hint(source: Source) -> str:
    return (f"pass --data DIR with DIR/{source.config}/{source.split}.jsonl (or .json, .parquet, "
            f"or a save_to_disk dataset) holding the rows of {source.hub_id} "
            f"config {source.config!r} as on the hub")


def load_rows(source: Source, data: str | Path | None = None,
              max_rows: int | None = None) -> Dataset:
    """The rows of ``source``: from ``data`` when given, else from the hub (or its cache)."""
    rows = _load_local(source, Path(data)) if data is not None else _load_hub(source)
    if max_rows is not None and max_rows < len(rows):
        rows = rows.select(range(max_rows))  # the first rows, as HF's max_*_samples do
    return rows


def _load_local(source: Source, root: Path) -> Dataset:
    from datasets import DatasetDict, load_from_disk

    if not root.is_dir():
        raise FileNotFoundError(f"--data {root}: not a directory ({layout_hint(source)})")
    base = root / source.config
    for suffix in (".jsonl", ".json"):
        path = base / f"{source.split}{suffix}"
        if path.is_file():
            return Dataset.from_list(read_json_rows(path))
    parquet = base / f"{source.split}.parquet"
    if parquet.is_file():
        return Dataset.from_parquet(str(parquet))
    for saved in (base / source.split, base):
        if (saved / "dataset_info.json").is_file() or (saved / "dataset_dict.json").is_file():
            loaded = load_from_disk(str(saved))
            if isinstance(loaded, DatasetDict):
                if source.split not in loaded:
                    raise ValueError(f"{saved}: no split {source.split!r} "
                                     f"(has {', '.join(loaded)})")
                return loaded[source.split]
            return loaded
    raise FileNotFoundError(f"{base}: no {source.split} split found; {layout_hint(source)}")


def read_json_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file, or of a JSON array; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from None
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from None
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: invalid JSON: {err.msg}") from None
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: row {number} is not a JSON object")
    if not rows:
        raise ValueError(f"{path}: no rows")
    return list(rows)


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """False when offline mode is on or the hub does not answer within ``timeout`` seconds:
    then only the local cache is tried, instead of waiting through the hub client's retries."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Cache-only loading for this process's datasets/huggingface_hub (both read the flag)."""
    import datasets.config
    import huggingface_hub.constants as hub_constants

    saved = (datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE)
    datasets.config.HF_HUB_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved


def _load_hub(source: Source) -> Dataset:
    from datasets import load_dataset

    online = hub_reachable()
    mode = contextlib.nullcontext() if online else _offline()
    try:
        with mode:
            rows = load_dataset(source.hub_id, source.config, split=source.split)
    except Exception as err:  # datasets raises many kinds (ConnectionError, FileNotFoundError...)
        where = "the hub" if online else "the local cache (the hub is unreachable or offline)"
        raise OSError(f"cannot load {source.hub_id} config {source.config!r} split "
                      f"{source.split!r} from {where}: {type(err).__name__}: {err}. "
                      f"Offline, {layout_hint(source)}") from None
    return rows
