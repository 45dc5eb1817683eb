"""Personal data masked (issue 4 item 6): the functions, the logging filter, and the data
path from a center's event to a rejection reason and alert text."""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor import masking
from supervisor.core.pipeline import process
from supervisor.core.state import CaseState
from supervisor.masking import (
    MaskingFilter,
    applicant_marks,
    mask_applicant,
    mask_id_number,
    mask_marked,
    mask_name,
    mask_name_in,
    mask_phone,
    mask_text,
)
from supervisor.simulate import people
from tests.core.factories import engine, event_doc

ID_NUMBER = "452701199001011234"
PHONE = "13800001111"

# -- the issue's examples -----------------------------------------------------------------


def test_the_examples_of_the_issue() -> None:
    assert mask_name("张三丰") == "张*丰"
    assert mask_id_number(ID_NUMBER) == "4527**********1234"
    assert mask_phone(PHONE) == "138****1111"


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三丰", "张*丰"), ("张三", "张*"), ("欧阳娜娜", "欧**娜"), ("韦", "*"), ("", "")],
)
def test_names_keep_the_first_and_the_last_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_id_numbers_and_phones() -> None:
    assert mask_id_number("45270119900101123X") == "4527**********123X"
    assert mask_phone("+8613800001111") == "+86138****1111"
    assert mask_phone("138-0000-1111") == "138-****-1111"
    # too short for the usual head and tail: at least half is hidden
    assert mask_phone("12345") == "1***5"
    assert mask_id_number("1234") == "1**4"


def test_free_text() -> None:
    text = f"申请人身份证号{ID_NUMBER}，电话{PHONE}；备用 +86 139-1234-5678。"
    assert (
        mask_text(text)
        == "申请人身份证号4527**********1234，电话138****1111；备用 +86 139-****-5678。"
    )
    assert mask_text("证件 45270119900101123x") == "证件 4527**********123x"
    assert mask_text("ID 452701 19900101 1234") == "ID 4527** ******** 1234"


@pytest.mark.parametrize(
    "text",
    [
        "451221-2026-0001234",  # a case id
        "deadline.overdue:451221-2026-0001234:r2",
        "2026-11-20T00:00:00+08:00",
        "case-events/3/1234567",
        "4527011990010112345",  # 19 digits: neither an ID number nor a phone
        "123456789012345678",  # no plausible birth date
        "12800001111",  # no mobile prefix 12
        "138****1111 and 4527**********1234",  # already masked
        # a case id's sequence number and the year after it, as in the worker's log lines
        "alert red supplement.repeated:451228-2026-1471234 2026-11-27T09:00:00+08:00",
    ],
)
def test_what_is_not_personal_data_stays(text: str) -> None:
    assert mask_text(text) == text


def test_applicant_objects() -> None:
    applicant = {"name": "李小梅", "id_number": "452727198805060021", "phone": "13977881234"}
    assert mask_applicant(applicant) == {
        "name": "李*梅",
        "id_number": "4527**********0021",
        "phone": "139****1234",
    }
    assert mask_applicant(None) is None
    # numbers instead of strings, and fields the contract does not know
    assert mask_applicant({"phone": 13977881234, "note": ["回访 13977881234"], "age": 30}) == {
        "phone": "139****1234",
        "note": ["回访 139****1234"],
        "age": 30,
    }


# -- properties ---------------------------------------------------------------------------

ids = st.builds(
    lambda seed, area, birth, female: people.id_number(random.Random(seed), area, birth, female),
    st.integers(0, 2**32),
    st.sampled_from(["451202", "452701", "452723", "110101", "440305"]),
    st.dates(date(1920, 1, 1), date(2010, 12, 31)),
    st.booleans(),
)
phones = st.builds(lambda seed: people.phone(random.Random(seed)), st.integers(0, 2**32))
#: Text around a value: anything but digits and X (which would make it a longer number),
#: ASCII or full-width.
around = st.text(
    st.characters(
        blacklist_categories=["Cs"],
        blacklist_characters="0123456789Xx０１２３４５６７８９Ｘｘ",
    ),
    max_size=20,
)


@given(ids, phones, around, around.filter(bool), around)
def test_masked_text_never_contains_a_number_it_held(
    id_number: str, phone: str, before: str, between: str, after: str
) -> None:
    masked = mask_text(before + id_number + between + phone + after)
    assert id_number not in masked
    assert phone not in masked
    assert id_number[:4] + "*" * 10 + id_number[-4:] in masked
    assert phone[:3] + "****" + phone[-4:] in masked


@given(st.text(st.sampled_from("0123456789"), min_size=1, max_size=60))
def test_a_masked_digit_run_never_contains_the_original(digits: str) -> None:
    for masked in (mask_phone(digits), mask_id_number(digits)):
        assert len(masked) == len(digits)
        assert digits not in masked
        assert masked.count("*") * 3 >= len(digits)  # 4 of 11 for a phone, 10 of 18


@given(st.text(st.characters(whitelist_categories=("Lo", "Lu", "Ll")), min_size=2, max_size=12))
def test_a_masked_name_is_never_the_name(name: str) -> None:
    masked = mask_name(name)
    assert masked != name
    assert len(masked) == len(name)
    assert masked[0] == name[0]


def test_an_applicant_s_name_in_free_text() -> None:
    payload = {
        "item_code": "李小梅",  # compared by the rules: left as it is
        "item_name": "李小梅个体户营业执照",
        "missing_materials": ["李小梅身份证复印件", "营业场所证明", 3],
        "reason": None,
    }
    assert mask_name_in(payload, " 李小梅 ") == {
        "item_code": "李小梅",
        "item_name": "李*梅个体户营业执照",
        "missing_materials": ["李*梅身份证复印件", "营业场所证明", 3],
        "reason": None,
    }
    assert mask_name_in(payload, "王五") is None  # nowhere: the payload as it is
    assert mask_name_in({"item_name": "李记小吃店"}, "李") is None  # one character: in words


@given(
    st.text(alphabet="阿李梅*", min_size=2, max_size=4),
    st.lists(st.text(alphabet="阿李梅小* ", max_size=12), max_size=3),
)
def test_a_name_masked_in_free_text_is_nowhere_in_it(name: str, texts: list[str]) -> None:
    # names of stars too (a hostile sender's): masking them changes nothing, and ends
    payload = {"comment": "".join(texts), "missing_materials": texts}
    masked = mask_name_in(payload, name) or payload
    if "*" not in name:  # a name with a star in it may be what masking leaves
        assert name not in json.dumps(masked, ensure_ascii=False)
    assert len(masked["comment"]) == len(payload["comment"])


def test_a_case_s_marks_mask_its_applicant_in_any_text_and_hold_no_value() -> None:
    applicant = {"name": "李小梅", "id_number": "452727880506002", "phone": "0778-2281234"}
    marks = applicant_marks(applicant)
    assert len(marks) == 3
    for value in applicant.values():
        assert not any(value in mark for mark in marks)  # the masked form and a digest only
    text = "李小梅申请（证件452727880506002，电话0778-2281234），李小梅本人"
    masked = "李*梅申请（证件4527*******6002，电话077*-***1234），李*梅本人"
    assert mask_marked(text, marks) == masked
    assert mask_marked("李小妹申请，李梅", marks) == "李小妹申请，李梅"  # another name stays
    # a one-character name, or one of stars, is not marked
    assert applicant_marks({"name": "李"}) == applicant_marks({"name": "**"}) == []


@given(
    st.text(alphabet="阿李梅小*", min_size=2, max_size=4),
    st.lists(st.text(alphabet="阿李梅小* ", max_size=12), max_size=3),
)
def test_a_marked_name_is_nowhere_in_the_text_masked_by_its_mark(
    name: str, texts: list[str]
) -> None:
    # names of stars too (a hostile sender's): the masking ends
    text = name.join(texts) if len(texts) > 1 else "".join(texts) + name
    marks = applicant_marks({"name": name})
    masked = mask_marked(text, marks)
    if marks:
        assert name not in masked
    assert len(masked) == len(text)
    assert mask_marked(text, []) == text


#: ASCII digits as a Chinese input method types them (full width).
WIDE = str.maketrans("0123456789", "０１２３４５６７８９")


def test_numbers_typed_in_full_width_digits_are_masked() -> None:
    typed = "电话１３８００００１１１１，身份证４５２７０１１９９００１０１１２３Ｘ，又 13800001111"
    masked = "电话１３８****１１１１，身份证４５２７**********１２３Ｘ，又 138****1111"
    assert mask_text(typed) == masked
    assert mask_text("价格１２３元，编号２０２６１１") == "价格１２３元，编号２０２６１１"


@given(ids, phones, around, around.filter(bool), around)
def test_full_width_digits_are_masked_as_ascii_ones_are(
    id_number: str, phone: str, before: str, between: str, after: str
) -> None:
    text = before + id_number + between + phone + after
    wide = mask_text(text.translate(WIDE))
    assert wide == mask_text(text).translate(WIDE)
    assert id_number.translate(WIDE) not in wide and phone.translate(WIDE) not in wide


@given(st.text(st.sampled_from("0123456789X-+ 86abc电话号码１３８０"), max_size=60))
def test_masking_text_is_idempotent_and_keeps_its_length(text: str) -> None:
    once = mask_text(text)
    assert mask_text(once) == once
    assert len(once) == len(text)


@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_characters="0123456789"), min_size=1, max_size=5),
            st.text(st.sampled_from("0123456789"), max_size=10),
        ),
        max_size=8,
    )
)
def test_text_without_long_digit_runs_is_unchanged(parts: list[tuple[str, str]]) -> None:
    # At most 10 digits in a row: no phone (11) and no ID number (17 + check) fits.
    text = "".join(other + digits for other, digits in parts)
    assert mask_text(text) == text


# -- logging ------------------------------------------------------------------------------


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("tests.masking.filter")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_the_filter_masks_messages_arguments_and_tracebacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("dead letter: applicant.phone %s, id %r", PHONE, ID_NUMBER)
    logger.info(f"formatted before logging: {PHONE}")
    logger.info("a number argument %d", int(PHONE))
    logger.info("a mapping argument %(phone)s", {"phone": PHONE})
    logger.info("an object argument %s", {"applicant": {"id_number": ID_NUMBER}})
    logger.info("nothing personal: case %s at offset %d", "451221-2026-0001234", 17)
    try:
        raise ValueError(f"input_value='{PHONE}'")
    except ValueError:
        logger.exception("engine failed on case %s", "451221-2026-0001234")
    logger.info("stack", stack_info=True)
    text = stream.getvalue()
    assert PHONE not in text and ID_NUMBER not in text
    assert "dead letter: applicant.phone 138****1111, id '4527**********1234'" in text
    assert "a number argument 138****1111" in text
    assert "a mapping argument 138****1111" in text
    assert "nothing personal: case 451221-2026-0001234 at offset 17" in text
    assert "input_value='138****1111'" in text  # the traceback's exception line


def test_masking_keeps_structured_arguments_when_it_can() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None
    )
    record.args = ("127.0.0.1:5000", "GET", f"/api/alerts?q={PHONE}", "1.1", 200)
    MaskingFilter().filter(record)
    assert isinstance(record.args, tuple) and len(record.args) == 5  # uvicorn unpacks them
    assert record.args[2] == "/api/alerts?q=138****1111"
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/alerts?q=138****1111 HTTP/1.1" 200'


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        # masked only once joined: the record is flattened to its masked text
        ("phone %s-%s", ("139", "77881234"), "phone 139-****1234"),
        # a malformed call: flattened to the message and its arguments, masked
        (
            "case %s of %s",
            ("451221-2026-0000001",),
            "case %s of %s (arguments: ('451221-2026-0000001',))",
        ),
    ],
)
def test_a_flattened_record_formats_under_faust_s_formatter(
    msg: str, args: tuple[str, ...], expected: str
) -> None:
    """Faust's log handler formats with mode's ExtensionFormatter, which turned the
    arguments of a flattened record, None, into (None,), and logged a formatting error
    instead of the line."""
    from mode.utils.logging import ExtensionFormatter

    record = logging.LogRecord("supervisor.worker", logging.INFO, __file__, 1, msg, args, None)
    MaskingFilter().filter(record)
    assert ExtensionFormatter(fmt="%(message)s").format(record) == expected


@pytest.fixture
def installed() -> Iterator[io.StringIO]:
    """`masking.install()` on a root logger with one handler; undone afterwards."""
    root = logging.getLogger()
    factory = logging.getLogRecordFactory()
    handlers, filters, level = root.handlers[:], root.filters[:], root.level
    stream = io.StringIO()
    root.handlers = [logging.StreamHandler(stream)]
    root.setLevel(logging.INFO)
    try:
        masking.install()
        masking.install()  # idempotent
        yield stream
    finally:
        logging.setLogRecordFactory(factory)
        root.handlers, root.filters = handlers, filters
        root.setLevel(level)


def test_install_masks_every_logger_and_every_handler(installed: io.StringIO) -> None:
    root = logging.getLogger()
    assert sum(isinstance(f, MaskingFilter) for f in root.filters) == 1
    assert sum(isinstance(f, MaskingFilter) for f in root.handlers[0].filters) == 1
    # a child logger propagating to the root's handler
    logging.getLogger("supervisor.worker.test").warning("phone %s", PHONE)
    # a logger that does not propagate, with a handler added after install (like uvicorn's)
    own = io.StringIO()
    apart = logging.getLogger("tests.masking.apart")
    apart.propagate = False
    apart.addHandler(logging.StreamHandler(own))
    try:
        apart.warning("id %s", ID_NUMBER)
    finally:
        apart.handlers.clear()
    assert installed.getvalue() == "phone 138****1111\n"
    assert own.getvalue() == "id 4527**********1234\n"


# -- the data path ------------------------------------------------------------------------


def test_events_with_applicants_through_the_pipeline_leave_nothing_unmasked() -> None:
    """Events carry applicants; one is malformed in its phone, one names a phone in its
    type, one has a phone typed into the item name: rejection reasons and every alert's
    text show none of it unmasked."""
    the_engine = engine()
    states: dict[str, CaseState] = {}
    applicant = {"name": "李小梅", "id_number": "452727198805060021", "phone": "13977881234"}
    case = "451221-2026-0009999"
    long_phone = "13977881234" * 3 + "1234567"  # 40 characters: over the 32 allowed
    messages = [
        event_doc("submitted", "2026-11-16T09:00:00+08:00", case_id=case)
        | {"applicant": applicant},
        event_doc("submitted", "2026-11-16T09:01:00+08:00", case_id=case)
        | {"applicant": {**applicant, "phone": long_phone}},
        event_doc("submitted", "2026-11-16T09:02:00+08:00", case_id=case) | {"type": PHONE},
        event_doc(
            "accepted",
            "2026-11-16T10:00:00+08:00",
            case_id=case,
            item_code="451221-XK-0042",
            item_name=f"食品经营许可（申请人电话{PHONE}，身份证{ID_NUMBER}）",
            promised_limit={"value": 1, "unit": "working_day"},
            fee_standard=0,
        ),
        event_doc("fee_charged", "2026-11-16T10:05:00+08:00", case_id=case, amount=50),
        event_doc("concluded", "2026-11-20T10:00:00+08:00", case_id=case),
    ]
    rejected: list[str] = []
    alerts: list[dict[str, object]] = []
    for document in messages:
        result = process(the_engine, json.dumps(document, ensure_ascii=False), states.get)
        if result.rejected is not None:
            rejected.append(result.rejected)
            continue
        assert result.state is not None
        states[result.state.case_id] = result.state
        alerts += [alert.to_dict() for alert in result.alerts]

    assert len(rejected) == 2
    assert rejected[0].startswith("applicant.phone")
    assert rejected[1] == "type: unknown event type"  # the field and the problem: no value
    rules = {str(alert["rule_id"]) for alert in alerts}
    assert {"fee.overcharge", "deadline.overdue", "workflow.no_decision"} <= rules
    published = json.dumps([rejected, alerts], ensure_ascii=False)
    for secret in (PHONE, ID_NUMBER, long_phone, *applicant.values()):
        assert secret not in published
    overcharge = next(a for a in alerts if a["rule_id"] == "fee.overcharge")
    assert "申请人电话138****1111，身份证4527**********1234" in str(overcharge["message"])
    assert "138****1111" in json.dumps(overcharge["details"], ensure_ascii=False)


def test_an_applicant_s_name_typed_into_the_item_name_is_masked_in_alerts() -> None:
    """Contract §3: an alert's title and message never show an applicant's name, even when
    the center typed it into the item name of the event that names the applicant."""
    applicant = {"name": "李小梅", "id_number": "452727198805060021", "phone": "13977881234"}
    accepted = event_doc(
        "accepted",
        "2026-11-16T10:00:00+08:00",
        case_id="451221-2026-0009998",
        item_code="451221-XK-0042",
        item_name="李小梅个体户营业执照",
        promised_limit={"value": 1, "unit": "working_day"},
    ) | {"applicant": applicant}
    result = process(engine(), json.dumps(accepted, ensure_ascii=False), lambda _: None)
    assert result.state is not None and result.rejected is None
    assert result.state.item_name == "李*梅个体户营业执照"
    # the case's history keeps neither the applicant nor the name
    assert "李小梅" not in json.dumps(result.state.to_json(), ensure_ascii=False)


# -- names found by their masked form's shape (where only the masked name is kept) --------

HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


@given(
    name=st.text(HAN, min_size=3, max_size=4),
    before=st.text(HAN, max_size=6),
    after=st.text(HAN, max_size=6),
)
def test_a_name_is_masked_by_its_masked_form_wherever_it_is_typed(
    name: str, before: str, after: str
) -> None:
    text = f"{before}{name}，{name}{after}"
    shown = masking.mask_shaped(text, [masking.mask_name(name)])
    assert name not in shown and len(shown) == len(text)
    assert masking.mask_shaped(shown, [masking.mask_name(name)]) == shown  # idempotent


def test_only_masked_names_have_a_shape_and_only_free_text_is_searched() -> None:
    assert masking.masked_names(
        [{"applicant": {"name": n}} for n in ("黄*强", "*", "**", "*强", "黄强", "黄*强")]
    ) == ["黄*强"]
    assert masking.mask_shaped("J. Smith met John Smith", ["J********h"]) == (
        "J. Smith met J********h"
    )
    # a transcribed name as people type its separator: a middle dot, a bullet, a hyphen
    for typed in ("阿卜杜·热合曼", "阿卜杜•热合曼", "阿卜杜-热合曼", "阿卜杜.热合曼"):
        assert masking.mask_shaped(f"申请人{typed}来电", ["阿*****曼"]) == "申请人阿*****曼来电"
    # a two-character name keeps only its surname: its shape is every word beginning
    # with it, so it masks nothing by shape (its own event masks it as given)
    assert masking.masked_names([{"applicant": {"name": "方*"}}]) == []
    typed = "请于5个工作日内报送整改方案"
    assert masking.mask_shaped(typed, ["方*"]) == typed
    document = {
        "type": "step_completed",
        "case_id": "黄志强",
        "payload": {
            "step": "黄志强",
            "reason": "黄志强未到场",
            "missing_materials": ["黄志强证明"],
        },
    }
    assert masking.mask_shaped_event(document, ["黄*强"]) == {
        "type": "step_completed",
        "case_id": "黄志强",
        "payload": {"step": "黄志强", "reason": "黄*强未到场", "missing_materials": ["黄*强证明"]},
    }


def test_an_identifier_the_text_names_is_kept_and_the_same_number_elsewhere_is_not() -> None:
    """A case numbered area code, date and sequence has an ID number's shape; the alert's
    own case id stays readable (`keep`), a number that overlaps it too, and any other
    number is masked as before."""
    case_id = "451221202611160001"
    text = f"办件 {case_id} 的申请人身份证 {case_id[:-1]}9，电话 13977881234"
    assert masking.mask_text(text, keep=(case_id,)) == (
        f"办件 {case_id} 的申请人身份证 4512**********0009，电话 139****1234"
    )
    assert masking.mask_text(text) == (
        "办件 4512**********0001 的申请人身份证 4512**********0009，电话 139****1234"
    )
    phone_like = "451221-2026-13977881234"
    assert masking.mask_text(f"办件 {phone_like}", keep=(phone_like,)) == f"办件 {phone_like}"
    assert masking.mask_text("０７７８－２２８１２３４", keep=("x",)) == "０７７８－***１２３４"


def test_landlines_and_first_generation_id_numbers_are_masked_too() -> None:
    assert masking.mask_text("电话0778-2281234或(0778)2281234、0778 22812345") == (
        "电话0778-***1234或(0778)***1234、0778 ****2345"
    )
    assert masking.mask_text("旧身份证452727880506002") == "旧身份证4527*******6002"
    # dates, times, amounts and codes are not numbers of people
    for text in ("2026-11-16 10:00", "金额 0.5 元", "编号 0001-2345", "451200-XK-0203-01"):
        assert masking.mask_text(text) == text


def test_a_latin_name_is_masked_however_it_is_capitalised() -> None:
    payload = {"item_name": "Zhang San item; ZHANG SAN; zhang san", "step": "ZHANG SAN"}
    masked = masking.mask_name_in(payload, "Zhang San")
    assert masked == {"item_name": "Z*******n item; Z*******N; z*******n", "step": "ZHANG SAN"}


def test_a_kept_id_protects_only_itself_where_it_stands_whole() -> None:
    """A short or numeric case id keeps nothing of a longer number it stands inside: only
    a number that lies wholly within a kept occurrence, itself not run into letters or
    digits, is left as it is."""
    text = "办件 1 申请人电话 13812345678 身份证 452701199001011234"
    assert masking.mask_text(text, keep=("1",)) == (
        "办件 1 申请人电话 138****5678 身份证 4527**********1234"
    )
    assert masking.mask_text("联系电话13800001111，办件8000", keep=("8000",)) == (
        "联系电话138****1111，办件8000"
    )
    case_id = "451221202611160001"
    assert masking.mask_text(f"办件 X{case_id}", keep=(case_id,)) == "办件 X4512**********0001"


def test_a_code_of_area_code_and_date_is_no_landline() -> None:
    assert masking.mask_text("办件 GX0778-20261116-001 超期") == "办件 GX0778-20261116-001 超期"
    assert masking.mask_text("电话0778-2281234。") == "电话0778-***1234。"


def test_a_latin_name_found_is_a_latin_name_masked() -> None:
    # casefold finds STRASSE for Straße; the masking would not: the two agree, neither
    assert masking.mask_name_in({"comment": "STRASSE said hi"}, "Straße") is None
