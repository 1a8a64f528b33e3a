"""Reading rows from a user's CSV/JSONL file or a Hugging Face dataset; shared by every task.

Files are decoded as bytes by a real CSV reader: only ``\\r`` and ``\\n`` end a row, so
characters that ``str.splitlines`` treats as line breaks (NEL from a cp1252 "…" read as
latin-1, U+2028 inside a tweet) stay inside their field, and newlines inside quoted
fields are kept.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import sys
from pathlib import Path

from green.errors import GreenError

#: Encodings tried, in order, for a user's file; anything else is refused with the fix.
ENCODINGS = ("utf-8-sig", "cp1252")
#: A text longer than this is not a training example; the csv module's default limit is 128 kB.
MAX_FIELD_BYTES = 16 * 1024 * 1024

csv.field_size_limit(min(MAX_FIELD_BYTES, sys.maxsize))

Rows = list[dict]


#: A data file larger than this is refused: its rows are held in memory for splitting and tokenizing.
MAX_DATA_BYTES = 2 * 1024**3
_CHUNK = 1 << 20
#: Byte-order marks: a spreadsheet's "Unicode text" is UTF-16 with one.
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode(raw: bytes, source: str, encoding: str | None = None) -> str:
    """``raw`` as text: by its byte-order mark, else UTF-8, else Windows-1252, else a one-line error."""
    return raw.decode(_encoding_of([raw], source, encoding))


def file_encoding(path: Path, encoding: str | None = None) -> str:
    """The encoding ``path`` decodes with (read in chunks, nothing kept), or a one-line error."""
    path = Path(path)

    def chunks():
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk

    return _encoding_of(chunks, str(path), encoding)


def _encoding_of(chunks, source: str, encoding: str | None) -> str:
    """The first encoding that decodes every chunk; the error names UTF-8's first bad byte and its offset."""
    import codecs

    def read():
        return chunks() if callable(chunks) else iter(chunks)

    if encoding:
        candidates = [encoding]
    else:
        head = next(read(), b"")[:3]
        bom = next((enc for mark, enc in _BOMS if head.startswith(mark)), None)
        candidates = [bom] if bom else list(ENCODINGS)
    first_error = None
    for enc in candidates:
        # utf-8-sig's decoder drops the BOM and counts offsets after it: check with utf-8 (a BOM is valid UTF-8).
        decoder = codecs.getincrementaldecoder("utf-8" if enc == "utf-8-sig" else enc)()
        offset = 0
        try:
            for chunk in read():
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    at = offset - pending + exc.start
                    first_error = first_error or (exc.object[exc.start], at, enc)
                    raise
                offset += len(chunk)
            decoder.decode(b"", final=True)
            return enc
        except UnicodeDecodeError as exc:
            if first_error is None:  # truncated at the end of the file
                first_error = (exc.object[exc.start] if exc.object else 0, offset - len(exc.object) + exc.start, enc)
            continue
    assert first_error is not None  # candidates is never empty: the loop returned or failed to decode
    byte, at, enc = first_error
    what = "UTF-16 text (it has a UTF-16 byte-order mark)" if enc == "utf-16" else (
        f"{enc} text" if encoding else "UTF-8 or Windows-1252 text")
    raise GreenError(f"{source} is not {what} (undecodable byte {byte:#04x} at offset {at})",
                     "re-save the file as UTF-8")


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_DATA_BYTES:
        raise GreenError(f"{path} is {size / 1e9:.1f} GB; green reads data files of up to {MAX_DATA_BYTES / 1e9:.1f} GB",
                         "sample the rows you need into a smaller file")


def read_csv(path: Path, encoding: str | None = None) -> tuple[Rows, list[str]]:
    """Rows of a CSV (TSV by suffix), streamed from the file: its bytes are never held whole."""
    path = Path(path)
    _check_size(path)
    enc = file_encoding(path, encoding)
    dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    try:
        with path.open(encoding=enc, newline="") as f:
            reader = csv.DictReader(f, dialect=dialect)
            rows = list(reader)
            names = [c for c in (reader.fieldnames or []) if c is not None]  # read lazily: before the file closes
    except csv.Error as exc:
        raise GreenError(f"{path}: not a readable CSV file ({exc})", "check the quoting, or save it as UTF-8 CSV") from None
    return rows, names


def read_jsonl(path: Path) -> tuple[Rows, list[str]]:
    path = Path(path)
    _check_size(path)
    enc = file_encoding(path)
    rows: Rows = []
    columns: list[str] = []
    # JSON strings may hold U+2028 and other characters splitlines() breaks on: split on \n only.
    with path.open(encoding=enc, newline="\n") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise GreenError(f"{path}:{lineno}: not valid JSON ({exc.msg})", "write one JSON object per line") from None
            except RecursionError:
                raise GreenError(f"{path}:{lineno}: JSON nested too deeply", "write one flat JSON object per line") from None
            except ValueError as exc:  # an integer past Python's digit limit
                raise GreenError(f"{path}:{lineno}: {str(exc).split(';')[0][:120]}",
                                 "write the number as a string") from None
            if not isinstance(row, dict):
                raise GreenError(f"{path}:{lineno}: expected a JSON object per line", "write one JSON object per line")
            rows.append(row)
            for key in row:
                if key not in columns:
                    columns.append(key)
    return rows, columns


def read_hub(name: str, config: str | None = None, split: str = "train") -> tuple[Rows, list[str]]:
    offline_choices = "offline choices: --data embedded, or a local CSV/JSONL path"
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        raise GreenError(
            f"--data {name!r} is not a local file and the Hugging Face Hub is offline (HF_HUB_OFFLINE=1)",
            offline_choices,
        )
    from green.models import hub_reachable

    if not hub_reachable():  # else datasets retries for about a minute before failing
        raise GreenError(f"--data {name!r} is not a local file and the Hugging Face Hub is unreachable (no network?)",
                         offline_choices)
    try:
        import datasets
    except ImportError:
        raise GreenError(
            f"--data {name!r} is not a local file; loading a Hub dataset needs the 'datasets' package",
            f'pip install "green[hub]" (Hugging Face datasets), or use the {offline_choices}',
        ) from None
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as exc:
        raise GreenError(
            f"could not load Hub dataset {name!r} ({type(exc).__name__}; no network?)", offline_choices
        ) from None
    return [dict(r) for r in ds], list(ds.column_names)


def read_source(data: str, hub_config: str | None = None) -> tuple[Rows, list[str], str, str]:
    """Rows, columns, a source label and a content fingerprint for a path or Hub name."""
    path = Path(data).expanduser()
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".json", ".ndjson"):
            rows, columns = read_jsonl(path)
        elif suffix in (".csv", ".tsv", ".txt"):
            rows, columns = read_csv(path)
        else:
            raise GreenError(f"--data {path}: unknown file type {suffix!r}", "use a .csv or .jsonl file")
        return rows, columns, str(path.resolve()), file_digest(path)
    if path.is_dir():
        raise GreenError(f"--data {data} is a directory", "pass a .csv or .jsonl file")
    if path.exists():  # a FIFO, a socket or a device (/dev/zero): never read, it may never end
        raise GreenError(f"--data {data} is not a regular file (a pipe, socket or device)",
                         "pass a .csv or .jsonl file on disk")
    if path.suffix.lower() in (".csv", ".jsonl", ".json", ".tsv") or os.sep in data or data.startswith("."):
        raise GreenError(f"data file not found: {data}", "check the path, or use --data embedded")
    rows, columns = read_hub(data, hub_config)
    return rows, columns, f"hub:{data}", ""


def require_columns(columns: list[str], wanted: dict[str, str], source: str) -> None:
    """Every wanted column exists; the error lists the columns there are and names the flag."""
    for role, col in wanted.items():
        if col not in columns:
            raise GreenError(
                f"column {col!r} not found in {source} (columns: {', '.join(map(str, columns)) or 'none'})",
                f"pass --{role}-column with one of those",
            )


#: Values that mean "no value" in exported spreadsheets (pandas writes NaN), never a class or a text.
#: "none" or "n/a" can be real class names, so they are kept.
MISSING = {"", "nan", "null"}


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip().lower() in MISSING


def warn_leaks(train, test, source: str) -> int:
    """Log a warning when test inputs also appear in train (duplicate rows): test scores would flatter.

    120 copies of one pair once scored ROUGE-L 1.0 without a word said. Returns the count.
    """
    seen = set(train.inputs)
    leaked = sum(1 for t in test.inputs if t in seen)
    if leaked:  # the packaged corpora are known quantities: said at INFO there, as their skipped rows are
        log = logging.getLogger(__name__)
        (log.info if source.startswith("embedded:") else log.warning)(
            "%s: %d of %d test rows have the same text as a train row (duplicates in the data); "
            "test scores will be optimistic: remove the duplicate rows", source, leaked, len(test.inputs))
    return leaked


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:16]
