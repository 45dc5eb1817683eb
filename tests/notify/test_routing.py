"""The routing file: who receives what, directors for escalation, strict file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.centers import CenterRegistry
from supervisor.core.calendar import CalendarBook
from supervisor.core.rules import RuleBook
from supervisor.notify.routing import (
    RoutingError,
    ancestors,
    center_matches,
    load_routing,
    recipients,
    rule_matches,
)

from .factories import ROOT, ROUTING, known_rules, routing

SMALL = """\
settings:
  digest_minutes: 15
recipients:
  - id: dir-nandan
    name: 南丹县政务服务中心主任
    role: director
    center: "451221"
    channels:
      email: {address: nandan@example.invalid}
  - id: dir-tiane
    name: 天峨县政务服务中心主任
    role: director
    center: "451222"
    channels:
      webhook: {url: "https://gateway.example.invalid/tiane", secret_env: TIANE_SECRET}
  - id: duty
    name: 监察组值班
    role: inspector
    channels:
      email: {address: duty@example.invalid}
  - id: fees
    name: 收费核查
    role: other
    channels:
      email: {address: fees@example.invalid}
directors:
  "451221": dir-nandan
routes:
  - name: 南丹县本级
    centers: ["451221"]
    to: [dir-nandan]
  - name: 天峨县及所辖乡镇
    centers: ["451222"]
    below: true
    to: [dir-tiane]
  - name: 全市红色
    severity: red
    to: [duty, dir-nandan]
  - name: 超期类
    centers: ["451200"]
    below: true
    rules: ["deadline.*"]
    severity: [yellow]
    to: [duty]
  - name: 收费
    rules: [fee.overcharge]
    to: [fees]
  - name: 停用的
    enabled: false
    to: [fees]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def who(
    path: Path, center: str, severity: str = "yellow", rule: str = "workflow.no_decision"
) -> list[str]:
    table = load_routing(path)
    alert = {"center_id": center, "severity": severity, "rule_id": rule}
    return [r.id for r in table.recipients(alert)]


def test_a_center_without_below_matches_only_itself(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    assert who(path, "451221") == ["dir-nandan"]
    assert who(path, "451221101") == []  # a township of 南丹县: the county route has no below


def test_a_center_with_below_matches_the_centers_under_it(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    assert who(path, "451222") == ["dir-tiane"]
    assert who(path, "451222100") == ["dir-tiane"]  # registered township
    assert who(path, "451222199") == ["dir-tiane"]  # unregistered: the code rule
    assert who(path, "451221") == ["dir-nandan"]  # not 天峨


def test_severity_filters_and_recipients_are_deduplicated(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    # red: 南丹 route (dir-nandan) + 全市红色 (duty, dir-nandan again): each once, in order
    assert who(path, "451221", "red") == ["dir-nandan", "duty"]
    assert who(path, "451222100", "red") == ["dir-tiane", "duty", "dir-nandan"]


def test_rule_prefix_and_exact_rule(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    assert who(path, "451224", rule="deadline.warning") == ["duty"]
    assert who(path, "451224", rule="deadline.statutory_overdue") == ["duty"]
    assert who(path, "451224", rule="delivery.overdue") == []  # not deadline.*
    assert who(path, "451224", rule="fee.overcharge") == ["fees"]
    assert who(path, "451224", rule="fee.overcharged_twice") == []  # exact id only


def test_disabled_routes_are_skipped_and_settings_read(tmp_path: Path) -> None:
    table = load_routing(write(tmp_path, SMALL))
    assert [r.name for r in table.routes][-1] == "收费"
    assert table.settings.digest_minutes == 15
    assert table.settings.repeat_minutes == 240  # default
    assert table.settings.escalate_after_working_hours == 2


def test_director_of_and_escalation_chain(tmp_path: Path) -> None:
    table = load_routing(write(tmp_path, SMALL))
    director = table.director_of("451221")
    assert director is not None and director.id == "dir-nandan"
    assert table.director_of("451222") is None
    # no director listed for the city in SMALL: the chain stops at the county
    assert [(c, d.id) for c, d in table.escalation_chain("451221101")] == [("451221", "dir-nandan")]
    assert table.escalation_chain("451222100") == []


def test_module_level_recipients_takes_any_routes(tmp_path: Path) -> None:
    table = load_routing(write(tmp_path, SMALL))
    alert = {"center_id": "451221", "severity": "red", "rule_id": "fee.overcharge"}
    assert [r.id for r in recipients(alert, table.routes)] == ["dir-nandan", "duty", "fees"]
    assert recipients(alert, []) == []


def test_matching_helpers() -> None:
    assert ancestors("451221101") == ["451221", "451200"]
    assert ancestors("451221") == ["451200"]
    assert ancestors("451200") == []
    assert center_matches("451200", "451221101", below=True)
    assert not center_matches("451200", "451221101", below=False)
    assert not center_matches("451221", "451222100", below=True)
    assert rule_matches("*", "anything.at_all")
    assert rule_matches("deadline.*", "deadline.overdue")
    assert not rule_matches("deadline.*", "deadlines.overdue")


# -- the shipped file ---------------------------------------------------------------------


def test_the_shipped_file_loads_against_the_rules_in_force() -> None:
    table = load_routing(ROUTING, known_rules())
    assert len(table.routes) >= 12
    assert table.settings.digest_minutes == 30


def test_every_registered_center_reaches_a_director_and_climbs_to_the_city() -> None:
    table = routing()
    registry = CenterRegistry.load()
    rules = known_rules()
    for center in registry.all():
        for severity in ("red", "yellow"):
            for rule in rules:
                alert = {"center_id": center.code, "severity": severity, "rule_id": rule}
                chosen = table.recipients(alert)
                assert any(r.role == "director" for r in chosen), (center.code, severity, rule)
        chain = [code for code, _ in table.escalation_chain(center.code)]
        expected = {"city": [], "county": ["451200"]}.get(center.level)
        assert chain == (expected if expected is not None else [center.parent, "451200"])


def test_each_director_hears_of_their_center_and_those_below() -> None:
    """Directors receive the alerts of their own center and of those below it: a county's
    director every alert of the county and its townships, not another county's; the city
    director the city center's and every red one of the city at once, the yellow ones of
    the centers below staying with their county (a digest per center would be a hundred
    digests every half hour)."""
    table = routing()

    def reached(center: str, severity: str) -> list[str]:
        alert = {"center_id": center, "severity": severity, "rule_id": "workflow.no_decision"}
        return [r.id for r in table.recipients(alert)]

    for severity in ("red", "yellow"):
        assert reached("451200", severity) == ["director-451200"]
        assert "director-451222" not in reached("451221", severity)
        assert "director-451221" not in reached("451222", severity)
    assert reached("451221", "red") == ["director-451200", "director-451221"]
    assert reached("451221100", "red") == [
        "director-451200",
        "director-451221",
        "director-451221100",
    ]
    assert reached("451221", "yellow") == ["director-451221"]
    assert reached("451221100", "yellow") == ["director-451221", "director-451221100"]


def test_no_secret_and_no_reachable_address_in_the_shipped_file() -> None:
    text = ROUTING.read_text(encoding="utf-8")
    table = routing()
    for code in [c.code for c in CenterRegistry.load().all()]:
        for recipient in table.recipients({"center_id": code, "severity": "red", "rule_id": "x.y"}):
            webhook, email = recipient.channels.webhook, recipient.channels.email
            if webhook is not None:
                assert ".invalid/" in webhook.url
            if email is not None:
                assert email.address.endswith(".invalid")
    assert "secret:" not in text


def test_the_routing_file_does_not_disturb_the_rule_book() -> None:
    book = RuleBook.load(ROOT / "rules")  # reads rules/*.yaml only, not rules/notify/
    assert book.get("deadline.overdue") is not None
    CalendarBook.load(ROOT / "rules" / "calendar")


# -- errors, with the file and the line ---------------------------------------------------


def refused(tmp_path: Path, text: str, known: tuple[str, ...] | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(RoutingError) as caught:
        load_routing(path, known)
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    return message.removeprefix(f"{path}:")


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("    below: true\n", "    below: true\n    bellow: true\n", "bellow: Extra inputs"),
        ("    below: true\n", "    below: yes please\n", "below: Input should be a valid boolean"),
        ("    severity: red\n", "    severity: orange\n", "severity.0: Input should be 'yellow'"),
        ('    rules: ["deadline.*"]\n', '    rules: ["deadline*"]\n', "not a rule id"),
        (
            "      email: {address: fees@example.invalid}\n",
            "      sms: {number: '10086'}\n",
            "channels.sms: Extra inputs are not permitted",
        ),
        (
            '    centers: ["451222"]\n',
            '    centers: ["45122"]\n',
            "'45122' is not a 6- or 9-digit division code",
        ),
        (
            "    to: [fees]\n  - name: 停用的",
            "    to: [feez]\n  - name: 停用的",
            "unknown recipient",
        ),
        ("  digest_minutes: 15\n", "  digest_minutes: -5\n", "greater than 0"),
        ("  digest_minutes: 15\n", "  digest_minutes: 15\n  flood: 3\n", "flood: Extra inputs"),
        (
            "secret_env: TIANE_SECRET}",
            "secret: hunter2}",
            "secret_env: Field required",
        ),
    ],
)
def test_a_bad_file_is_refused_at_the_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in SMALL
    text = SMALL.replace(old, new, 1)
    message = refused(tmp_path, text)
    assert expected in message
    changed = next(line for line in new.splitlines() if line.strip() and line not in SMALL)
    if "secret_env" in expected:  # a missing key: the line of its mapping
        changed = "secret: hunter2"
    assert message.split(":", 1)[0] == str(line_of(text, changed.strip())), message


def test_errors_name_the_route(tmp_path: Path) -> None:
    text = SMALL.replace("    severity: red\n", "    severity: purple\n")
    assert "routes.2 (全市红色): severity.0" in refused(tmp_path, text)


def test_a_rule_pattern_matching_no_rule_in_force(tmp_path: Path) -> None:
    text = SMALL.replace('rules: ["deadline.*"]', 'rules: ["deadlin.*"]')
    message = refused(tmp_path, text, known_rules())
    assert "'deadlin.*' matches no rule in force" in message
    assert message.startswith(f"{line_of(text, 'deadlin.*')}:")
    load_routing(write(tmp_path, SMALL), known_rules())  # the right ones pass
    # a rule the service raises itself, outside the rule book, is a rule like any
    own = SMALL.replace("rules: [fee.overcharge]", 'rules: ["supervision.*"]')
    load_routing(write(tmp_path, own), known_rules())


def test_unknown_director_recipient(tmp_path: Path) -> None:
    text = SMALL.replace('"451221": dir-nandan', '"451221": dir-nowhere')
    message = refused(tmp_path, text)
    assert "directors.451221: unknown recipient 'dir-nowhere'" in message
    assert message.startswith(f"{line_of(text, 'dir-nowhere')}:")


def test_bad_director_code(tmp_path: Path) -> None:
    text = SMALL.replace('"451221": dir-nandan', '"4512": dir-nandan')
    assert "'4512' is not a 6- or 9-digit division code" in refused(tmp_path, text)


def test_duplicate_recipient_id(tmp_path: Path) -> None:
    text = SMALL.replace("  - id: fees\n", "  - id: duty\n")
    message = refused(tmp_path, text)
    assert "recipients.3.id: 'duty' is already the id of recipients.2" in message
    second = [n for n, line in enumerate(text.splitlines(), 1) if line == "  - id: duty"][1]
    assert message.startswith(f"{second}:")


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    text = SMALL.replace('"451221": dir-nandan\n', '"451221": dir-nandan\n  "451221": duty\n')
    message = refused(tmp_path, text)
    assert "'451221' is given twice" in message
    second = line_of(text, '"451221": duty')
    assert message.startswith(f"{second}:")


def test_a_recipient_without_channels_or_a_director_without_center(tmp_path: Path) -> None:
    text = SMALL.replace(
        "    channels:\n      email: {address: fees@example.invalid}\n", "    channels: {}\n"
    )
    message = refused(tmp_path, text)
    assert "recipients.3 (fees): channels: give at least one of webhook, email" in message
    assert message.startswith(f"{line_of(text, 'channels: {}')}:")
    text = SMALL.replace('    center: "451222"\n', "")
    assert "a director is the director of a center" in refused(tmp_path, text)


def test_bad_office_hours(tmp_path: Path) -> None:
    text = SMALL.replace(
        "  digest_minutes: 15\n", '  digest_minutes: 15\n  office_hours: ["13:30-12:00"]\n'
    )
    message = refused(tmp_path, text)
    assert "settings.office_hours" in message and "is not a window" in message


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    assert "not valid YAML" in refused(tmp_path, "routes: [\n")
    assert "a routing file is a mapping" in refused(tmp_path, "- just\n- a list\n")
    assert "recipients: Field required" in refused(tmp_path, "routes: []\n")
    with pytest.raises(RoutingError, match="cannot be read"):
        load_routing(tmp_path / "absent.yaml")
