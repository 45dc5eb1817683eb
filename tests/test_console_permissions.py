"""The console offers the steps the service allows, no more and no fewer: its table
(dashboards/console/js/permissions.js) against the lifecycle's (supervisor/lifecycle.py)
and the supervision orders' (supervisor/orders.py), every role against every status and
severity, and the dispositions each role may resolve with."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from supervisor import lifecycle, orders

ROOT = Path(__file__).resolve().parent.parent
PERMISSIONS = ROOT / "dashboards" / "console" / "js" / "permissions.js"
ROLES = ("inspector", "director", "ops")
ORDER_STATUSES = orders.STATUSES
SEVERITIES = ("yellow", "red")

DUMP = """
const { alertActions, dispositionsFor, orderActions } = await import(process.argv[1]);
const [roles, alertStatuses, severities, orderStatuses] = JSON.parse(process.argv[2]);
const table = { alerts: {}, orders: {}, dispositions: {} };
for (const role of roles) {
  for (const s of alertStatuses) {
    for (const v of severities) table.alerts[`${role} ${s} ${v}`] = alertActions(role, s, v);
  }
  for (const s of orderStatuses) table.orders[`${role} ${s}`] = orderActions(role, s);
  table.dispositions[role] = dispositionsFor(role);
}
console.log(JSON.stringify(table));
"""


def console_table() -> dict[str, dict[str, list[str]]]:
    node = shutil.which("node")
    assert node is not None, "node runs the pages' tests (scripts/bootstrap installs it)"
    asked = json.dumps([ROLES, lifecycle.STATUSES, SEVERITIES, ORDER_STATUSES])
    done = subprocess.run(
        [node, "--input-type=module", "-e", DUMP, PERMISSIONS.as_uri(), asked],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    table: dict[str, dict[str, list[str]]] = json.loads(done.stdout)
    return table


def test_the_console_offers_what_the_lifecycle_and_the_orders_allow() -> None:
    table = console_table()
    for role in ROLES:
        for status in lifecycle.STATUSES:
            for severity in SEVERITIES:
                allowed = {
                    action
                    for (source, action) in lifecycle.TRANSITIONS
                    if source == status
                    and role in lifecycle.ROLES_FOR[action]
                    and (action != "resolve" or lifecycle.may_resolve(role, severity))
                }
                shown = table["alerts"][f"{role} {status} {severity}"]
                assert set(shown) == allowed, (role, status, severity)
        assert set(table["dispositions"][role]) == lifecycle.dispositions_for(role), role
        for status in ORDER_STATUSES:
            allowed = {
                action
                for action in orders.ROLE_OF
                if orders.ROLE_OF[action] == role and _order_step_allowed(status, action, role)
            }
            assert set(table["orders"][f"{role} {status}"]) == allowed - {"issue"}, (role, status)


def _order_step_allowed(status: str, action: str, role: str) -> bool:
    try:
        orders.check(status, action, role)
    except orders.OrderRefused:
        return False
    return True
