"""Personal data masked wherever people read it: 张*丰, 4527**********1234,
138****1111.

An applicant's name, ID number and phone come in an event's `applicant` object, which a
case's history does not keep (the dead-letter topic keeps a rejected message's original
bytes); they never appear unmasked on the wall, in the API, in alert text or in logs.
Pure functions, plus a logging filter:

- `mask_name`, `mask_id_number`, `mask_phone`: one known field;
- `mask_applicant`: the contract's `applicant` object; `mask_document`: any JSON value;
- `mask_text`: free text (an alert message, a rejection reason, a log line), in which
  every Chinese resident ID number (18 characters, the last may be X, with a plausible
  area and birth date; and the first generation's 15 digits), every mainland mobile
  number (1[3-9] and 9 digits, also written 138-0000-1111, 138 0000 1111 or +86…) and
  every landline written with its area code (0778-2281234, (0778)2281234) is masked,
  but for identifiers the caller names (`keep`: the alert's own case id). A name cannot
  be told from other words in free text, so:
- `mask_name_in`: an event's free text (an item name, a reason, a comment) with its own
  applicant's name masked wherever it stands, when a center typed it there. The decoder
  applies it to every event that names its applicant, so neither the alerts nor the
  case's history show it there.
- `applicant_marks` and `mask_marked`: a case keeps a mark of its applicant's name, ID
  number and phone (the masked form and a digest, never the value), and its alerts'
  text is masked by them, so a value typed into another event of the case (an item
  name on `accepted`, the applicant named on `submitted`) never shows either.
- `MaskingFilter` and `install()`: every log record of the process masked (see
  `install` for why a filter on the root logger alone is not enough).

Masking keeps the length of the value (one `*` per hidden character) and hides at least
half of any value too short for the usual head and tail, so a masked value never contains
the original. Already-masked text is left as it is (`mask_text` is idempotent).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

MASK: Final = "*"

#: An 18-character resident ID number (GB 11643): area (first digit 1-8), birth date
#: (18xx-20xx, month 01-12, day 01-31), order, check character. Also written 6-8-4 with
#: spaces. Not inside a longer run of digits.
_ID_NUMBER: Final = re.compile(
    r"(?<![0-9])"
    r"[1-8][0-9]{5} ?(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]) ?"
    r"[0-9]{3}[0-9Xx]"
    r"(?![0-9Xx])"
)
#: A first-generation resident ID number (15 digits: area, birth date as YYMMDD, order),
#: still found in older records. Not inside a longer run of digits.
_OLD_ID_NUMBER: Final = re.compile(
    r"(?<![0-9])[1-8][0-9]{5}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}(?![0-9])"
)
#: A landline number with its area code (0 and two or three digits), written with a
#: hyphen or a space after it or in brackets (0778-2281234, (0778)2281234): without one,
#: a run of digits starting with 0 is too often something else; and not inside a code
#: (GX0778-20261116-001). The area code is kept.
_LANDLINE: Final = re.compile(
    r"(?<![0-9A-Za-z])(?P<area>\(0[1-9][0-9]{1,2}\)[ -]?|0[1-9][0-9]{1,2}[ -])"
    r"(?P<number>[2-8][0-9]{6,7})(?![0-9])(?!-[0-9])"
)
#: A mainland mobile number, optionally with +86/86 in front and - or space after the
#: third and seventh digit. Not inside a longer run of digits. A separator after the
#: seventh digit needs one after the third: seven digits, a space and four more are a
#: case id's sequence number followed by a year (451228-2026-1471234 2026), not a phone.
_MOBILE: Final = re.compile(
    r"(?<![0-9])(?P<country>\+?86[ -]?)?"
    r"(?P<number>1[3-9][0-9](?:[ -]?[0-9]{8}|[ -][0-9]{4}[ -]?[0-9]{4}))(?![0-9])"
)


def _keep(value: str, head: int, tail: int) -> str:
    """`value` with all but `head` leading and `tail` trailing characters starred.

    Separators (space, -) in the hidden middle stay, so 138-0000-1111 reads 138-****-1111.
    A value too short for head and tail keeps at most a quarter at each end."""
    if len(value) < head + tail + 4:
        head = min(head, len(value) // 4)
        tail = min(tail, len(value) // 4)
    middle = value[head : len(value) - tail]
    hidden = "".join(c if c in " -" else MASK for c in middle)
    return value[:head] + hidden + value[len(value) - tail :]


def mask_name(name: str) -> str:
    """张三丰 -> 张*丰, 欧阳娜娜 -> 欧**娜, 张三 -> 张*, a one-character name -> *."""
    name = name.strip()
    if len(name) <= 1:
        return MASK * len(name)
    if len(name) == 2:
        return name[0] + MASK
    return name[0] + MASK * (len(name) - 2) + name[-1]


def mask_id_number(id_number: str) -> str:
    """452701199001011234 -> 4527**********1234 (first 4 and last 4 kept)."""
    return _keep(id_number.strip(), 4, 4)


def mask_phone(phone: str) -> str:
    """13800001111 -> 138****1111 (first 3 and last 4 kept); +86 in front stays."""
    phone = phone.strip()
    match = re.fullmatch(r"(\+?86[ -]?)(1[0-9 -]+)", phone)
    if match and len(match.group(2)) >= 11:
        return match.group(1) + _keep(match.group(2), 3, 4)
    return _keep(phone, 3, 4)


def mask_text(text: str, keep: Iterable[str] = ()) -> str:
    """Free text with every ID number and mobile number in it masked, in ASCII digits or
    in the full-width ones a Chinese input method types (１３８００００１１１１).

    `keep`: identifiers the text names that are not personal data and must stay readable,
    such as the alert's own case id, which a center may number as area code, date and
    sequence (451221202611160001: an ID number's shape). A number that lies wholly within
    one of them, where it stands as a whole (not inside a longer run of letters or
    digits: a case id `1` keeps nothing of 13800001111), is left as it is; the same
    number anywhere else is masked. An applicant's own number used as such an id is
    masked by its mark (`mask_marked`), not by its shape."""
    if not text:
        return text
    spans = _spans_of(text, keep)
    if _FULL_WIDTH_DIGIT.search(text) is not None:
        return _mask_full_width(text, spans)

    def ids(m: re.Match[str]) -> str:
        return m.group(0) if _within(m.span(), spans) else _keep(m.group(0), 4, 4)

    def mobiles(m: re.Match[str]) -> str:
        if _within(m.span("number"), spans):
            return m.group(0)
        return (m.group("country") or "") + _keep(m.group("number"), 3, 4)

    def landlines(m: re.Match[str]) -> str:
        if _within(m.span("number"), spans):
            return m.group(0)
        number = m.group("number")
        return m.group("area") + MASK * (len(number) - 4) + number[-4:]

    text = _OLD_ID_NUMBER.sub(ids, _ID_NUMBER.sub(ids, text))
    return _LANDLINE.sub(landlines, _MOBILE.sub(mobiles, text))


def _spans_of(text: str, keep: Iterable[str]) -> list[tuple[int, int]]:
    """Where each of `keep` stands whole in `text`: not run on into a letter or a digit
    on a side where it begins or ends with one (masking keeps lengths: the spans hold)."""
    spans = []
    for kept in keep:
        if not kept:
            continue
        start = text.find(kept)
        while start != -1:
            end = start + len(kept)
            runs_in = start > 0 and text[start - 1].isalnum() and kept[0].isalnum()
            runs_on = end < len(text) and text[end].isalnum() and kept[-1].isalnum()
            if not runs_in and not runs_on:
                spans.append((start, end))
            start = text.find(kept, start + 1)
    return spans


def _within(span: tuple[int, int], spans: Sequence[tuple[int, int]]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in spans)


_FULL_WIDTH_DIGIT: Final = re.compile("[\uff10-\uff19]")
#: Full-width digits, X, plus, hyphen and the ideographic space as their ASCII forms: one
#: character for one, so a match in the ASCII form is at the same place in the text.
_AS_ASCII: Final = str.maketrans(
    {
        **{chr(0xFF10 + n): str(n) for n in range(10)},
        "\uff38": "X",
        "\uff58": "x",
        "\uff0b": "+",
        "\uff0d": "-",
        "\u3000": " ",
    }
)


def _mask_full_width(text: str, spans: Sequence[tuple[int, int]] = ()) -> str:
    """`mask_text` for text with full-width digits: the numbers are found in its ASCII
    form and masked in the text itself, at the same places (`_AS_ASCII`)."""
    chars = list(text)
    for pattern in (_ID_NUMBER, _OLD_ID_NUMBER):
        for found in pattern.finditer("".join(chars).translate(_AS_ASCII)):
            start, end = found.span()
            if not _within((start, end), spans):
                chars[start:end] = _keep(text[start:end], 4, 4)
    text = "".join(chars)
    for found in _MOBILE.finditer(text.translate(_AS_ASCII)):
        start, end = found.span("number")
        if not _within((start, end), spans):
            chars[start:end] = _keep(text[start:end], 3, 4)
    text = "".join(chars)
    for found in _LANDLINE.finditer(text.translate(_AS_ASCII)):
        start, end = found.span("number")
        if not _within((start, end), spans):
            chars[start : end - 4] = MASK * (end - 4 - start)
    return "".join(chars)


_FIELDS: Final = {"name": mask_name, "id_number": mask_id_number, "phone": mask_phone}


def mask_applicant(applicant: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The contract's `applicant` object, masked: name, id_number and phone by their own
    rule (a number sent instead of a string comes back as a masked string); anything else
    (the contract allows nothing else, a center may send it) as free text; None stays."""
    if applicant is None:
        return None
    masked: dict[str, Any] = {}
    for key, value in applicant.items():
        rule = _FIELDS.get(key)
        if (
            rule is not None
            and isinstance(value, str | int | float)
            and not isinstance(value, bool)
        ):
            masked[key] = rule(str(value))
        else:
            masked[key] = _mask_value(value)
    return masked


#: The payload fields of an event that hold what a person typed, quoted by alerts and
#: pages (contract §1's payloads: item names, reasons, comments, materials asked for).
#: Fields the rules compare (steps, outcomes, codes) are left as they are.
FREE_TEXT: Final = frozenset({"item_name", "reason", "legal_basis", "comment", "missing_materials"})


def applicant_marks(applicant: Mapping[str, Any]) -> list[str]:
    """Marks of an applicant's name, ID number and phone, for a case to keep instead of
    them: each the value's masked form and a digest of it (`<masked>#<digest>`), so the
    case's alerts can mask the value wherever a center typed it (`mask_marked`), in any
    event of the case, without the case holding it. A value of one character, or one
    masking leaves as it is (stars), is not marked."""
    marks = []
    for key, rule in _FIELDS.items():
        value = applicant.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or len(value.strip()) < 2:
            continue
        value = value.strip()
        masked = rule(value)
        if masked != value and MASK in masked:
            marks.append(f"{masked}#{_digest(value)}")
    return marks


def mask_marked(text: str, marks: Sequence[str]) -> str:
    """`text` with each value of `marks` (`applicant_marks`) masked wherever it stands,
    overlapping occurrences too: each stretch of the value's length that begins as its
    masked form does and whose digest is the value's. Each replacement stars one more
    character at least (a value masking leaves as it is has no mark), so it ends."""
    for mark in marks:
        masked, _, digest = mark.rpartition("#")
        head, size = masked[: masked.find(MASK)], len(masked)
        changed = True
        while changed:
            changed = False
            start = text.find(head)
            while start != -1 and start + size <= len(text):
                if _digest(text[start : start + size]) == digest:
                    text = text[:start] + masked + text[start + size :]
                    changed = True
                start = text.find(head, start + 1)
    return text


def _digest(value: str) -> str:
    return hashlib.blake2b(value.encode("utf-8"), digest_size=12).hexdigest()


def mask_name_in(payload: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """`payload` with `name` (an applicant's, two characters or more) masked in each of
    its free-text fields (`FREE_TEXT`), or None when none of them holds it."""
    name = name.strip()
    if len(name) < 2:  # one character is in too many words to be masked everywhere
        return None
    changed: dict[str, Any] = {}
    spelled = _Spellings(name)
    for key in FREE_TEXT.intersection(payload):
        value = payload[key]
        if isinstance(value, str) and spelled.found_in(value):
            changed[key] = spelled.masked_in(value)
        elif isinstance(value, list) and any(
            isinstance(v, str) and spelled.found_in(v) for v in value
        ):
            changed[key] = [spelled.masked_in(v) if isinstance(v, str) else v for v in value]
    return {**payload, **changed} if changed else None


class _Spellings:
    """A name as typed in any case (Zhang San, ZHANG SAN, zhang san): Latin letters have
    cases, and a name with them is found and masked whatever its case; a Chinese name is
    found as it is, with `in` (the decoder asks this of every event that names its
    applicant: no pattern is compiled for it)."""

    __slots__ = ("_folded", "_name", "_pattern")

    def __init__(self, name: str) -> None:
        self._name = name
        cased = name.lower() != name.upper()
        self._folded = name.casefold() if cased else None
        self._pattern: re.Pattern[str] | None = None

    def found_in(self, text: str) -> bool:
        if self._name in text:
            return True
        if self._folded is None or self._folded not in text.casefold():
            return False
        return self._spelled().search(text) is not None  # what `masked_in` will find

    def _spelled(self) -> re.Pattern[str]:
        if self._pattern is None:
            self._pattern = re.compile(re.escape(self._name), re.IGNORECASE)
        return self._pattern

    def masked_in(self, text: str) -> str:
        """`text` with every occurrence of the name masked, each as it is spelled,
        overlapping ones too (阿阿阿 in 阿阿阿阿阿): a round that changes the text stars one
        more character at least, and a round that changes nothing (a sender's name of
        stars, which masking leaves as it is) ends it."""
        if self._folded is None:
            masked = mask_name(self._name)
            while self._name in text:
                replaced = text.replace(self._name, masked)
                if replaced == text:
                    break
                text = replaced
            return text
        pattern = self._spelled()
        while pattern.search(text):
            replaced = pattern.sub(lambda m: mask_name(m.group(0)), text)
            if replaced == text:
                break
            text = replaced
        return text


def masked_names(documents: Iterable[Any]) -> list[str]:
    """The applicants' names, as masked, of a case's stored event documents (their
    `applicant.name`: `mask_applicant` masked it), each once, in order: what
    `mask_shaped` masks the case's other texts by, where the name itself is gone."""
    given = []
    for document in documents:
        applicant = document.get("applicant") if isinstance(document, Mapping) else None
        name = applicant.get("name") if isinstance(applicant, Mapping) else None
        if isinstance(name, str):
            given.append(name)
    return shaped_names(given)


def shaped_names(names: Iterable[str | None]) -> list[str]:
    """Of masked names, those `mask_shaped` can find the name by, each once, in order."""
    return list(dict.fromkeys(n for n in names if n is not None and _shape(n) is not None))


def mask_shaped(value: Any, names: Sequence[str]) -> Any:
    """Any JSON value with each stretch of its strings shaped like one of `names` (an
    applicant's name as `mask_name` left it: 黄*强, 欧**娜, 张*) masked as the name was.

    Where only the masked name is kept (the read model, the web service), an applicant's
    name typed into another event's item name, a reason, a comment, or into a note a
    person writes about the case, is found by its shape: the same first and last
    characters and as many letters between. A stretch that has that shape and is not the
    name is masked too; for the case's own texts that is the safer mistake."""
    patterns = [pattern for pattern in map(_shape, names) if pattern is not None]
    if not patterns:
        return value
    return _shaped(value, patterns)


def mask_shaped_event(document: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """A stored event document with `mask_shaped` applied to its payload's free text
    (`FREE_TEXT`: item names, reasons, comments, materials asked for), where a center
    types an applicant's name; the fields rules compare and the ids stay as they are."""
    payload = document.get("payload")
    if not names or not isinstance(payload, Mapping):
        return dict(document)
    fields = {key: mask_shaped(payload[key], names) for key in FREE_TEXT.intersection(payload)}
    return {**document, "payload": {**payload, **fields}}


def _shaped(value: Any, patterns: Sequence[tuple[re.Pattern[str], str]]) -> Any:
    if isinstance(value, str):
        for pattern, masked in patterns:
            # again until nothing matches: overlapping occurrences (一一一 twice in
            # 一一一一一) are left whole by one pass; each pass stars a letter at least
            while (replaced := pattern.sub(masked, value)) != value:
                value = replaced
        return value
    if isinstance(value, Mapping):
        return {key: _shaped(item, patterns) for key, item in value.items()}
    if isinstance(value, list):
        return [_shaped(item, patterns) for item in value]
    return value


#: One letter of a name between its kept first and last characters: a Han character or
#: a letter, or a separator of a transcribed name as people type it (阿卜杜·热合曼 with a
#: middle dot, a bullet, a hyphen or a full stop; John Smith, Jean-Luc).
_NAME_LETTER: Final = r"(?:[^\W\d_]|[·・•‧∙‐‑－.．\- \u3000])"


@functools.lru_cache(maxsize=4096)
def _shape(masked: str) -> tuple[re.Pattern[str], str] | None:
    """The pattern of the names `masked` (a `mask_name` result) stands for, and `masked`;
    None for what is not such a result (no star, only stars, stars at either end), and
    for a name of two characters: 李* keeps only the surname, whose shape is every word
    that begins with it (方案, 文件, 于是), so masking by it would rewrite what people
    wrote; such a name is masked where its own event quotes it (`mask_name_in`)."""
    if len(masked) < 3 or MASK not in masked or masked.strip(MASK) != masked.rstrip(MASK):
        return None
    head = masked[0]
    if head == MASK or head.isspace():
        return None
    middle, tail = masked[1:-1], masked[-1]
    if tail == MASK or middle.strip(MASK):
        return None
    pattern = f"{re.escape(head)}{_NAME_LETTER}{{{len(middle)}}}{re.escape(tail)}"
    return re.compile(pattern), masked


def mask_document(value: Any) -> Any:
    """Any JSON value with every string (and number) in it masked as free text: an
    event's payload before it is stored (a comment or a reason may hold a phone)."""
    return _mask_value(value)


def _mask_value(value: Any) -> Any:
    """Any JSON value with every string (and number) in it masked as free text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int | float):
        text = str(value)
        return value if mask_text(text) == text else mask_text(text)
    if isinstance(value, Mapping):
        return {key: _mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(item) for item in value]
    return mask_text(repr(value))


# -- logging ------------------------------------------------------------------------------


class _Masked:
    """A log argument whose str() and repr() are masked (keeps %s and %r working)."""

    __slots__ = ("_repr", "_str")

    def __init__(self, value: object) -> None:
        self._str = mask_text(str(value))
        self._repr = mask_text(repr(value))

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return self._repr


def _mask_arg(value: object) -> object:
    if isinstance(value, str):
        return mask_text(value)
    if value is None or isinstance(value, bool | float):
        return value
    if mask_text(str(value)) == str(value) and mask_text(repr(value)) == repr(value):
        return value
    return _Masked(value)


def mask_record(record: logging.LogRecord) -> None:
    """Mask a log record in place: its message and arguments, its exception text and
    stack. Arguments are masked one by one where that keeps the record formattable (a
    handler may read `record.args`, as uvicorn's access log does); otherwise the record
    is flattened to its masked message. Idempotent."""
    if getattr(record, "_masked", False):
        return
    setattr(record, "_masked", True)  # noqa: B010 (LogRecord declares no such field)
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logging would print the arguments; never them
        record.msg = mask_text(f"{record.msg} (arguments: {record.args!r})")
        record.args = ()  # no arguments (see _mask_message)
    else:
        masked = mask_text(message)
        if masked != message:
            _mask_message(record, masked)
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = mask_text(text)
        if record.exc_text != text:
            record.exc_info = None  # a formatter that renders exc_info itself would leak it
    elif record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)


def _mask_message(record: logging.LogRecord, masked: str) -> None:
    msg, args = record.msg, record.args
    record.msg = mask_text(msg) if isinstance(msg, str) else _Masked(msg)
    if isinstance(args, Mapping):
        record.args = {key: _mask_arg(value) for key, value in args.items()}
    elif isinstance(args, tuple):
        record.args = tuple(_mask_arg(value) for value in args)
    try:
        if record.getMessage() == masked:
            return
    except Exception:
        pass
    # Flattened: the masked text as it was meant, with no arguments: (), not None, which
    # Faust's formatter (mode's ExtensionFormatter) turns into (None,) and then fails to
    # format ("not all arguments converted during string formatting").
    record.msg, record.args = masked, ()


class MaskingFilter(logging.Filter):
    """Masks every record it sees (see `mask_record`); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


_FACTORY_MARK: Final = "_supervisor_masking"


def install() -> None:
    """Mask every log record of this process; idempotent. Called by the worker, web and
    simulator entry points.

    A filter on the root logger sees only records logged on the root logger itself, not
    those of child loggers that propagate to its handlers, and Faust and uvicorn set up
    their own handlers (uvicorn's loggers do not propagate at all). So the filter goes on
    the root logger and each of its handlers, and the record factory is wrapped so that
    every record, of any logger and for any handler added later, is masked when created.
    """
    root = logging.getLogger()
    for holder in (root, *root.handlers):
        if not any(isinstance(f, MaskingFilter) for f in holder.filters):
            holder.addFilter(MaskingFilter())
    factory = logging.getLogRecordFactory()
    if getattr(factory, _FACTORY_MARK, False):
        return

    def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        mask_record(record)
        return record

    setattr(masking_factory, _FACTORY_MARK, True)
    logging.setLogRecordFactory(masking_factory)
