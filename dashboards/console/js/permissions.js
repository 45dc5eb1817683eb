/* Which step a person may take, by their role and the status of what they look at: the
 * buttons shown. The service decides (supervisor/lifecycle.py ROLES_FOR and TRANSITIONS,
 * supervisor/orders.py); this mirrors it so that nobody is offered a step that would only
 * be refused; tests/test_console_permissions.py checks the two agree. Pure (node tests
 * run it). */

const BOTH = ["inspector", "director"];

/** The alert lifecycle: who, from which statuses, and the action's path in the API. */
const ALERT_STEPS = [
  { action: "acknowledge", roles: BOTH, from: ["open"], path: "acknowledge" },
  { action: "resolve", roles: BOTH, from: ["open", "acknowledged"], path: "resolve" },
  { action: "appeal", roles: ["director"], from: ["open", "acknowledged"], path: "appeal" },
  { action: "accept_appeal", roles: ["inspector"], from: ["appealed"], path: "appeal/accept" },
  { action: "reject_appeal", roles: ["inspector"], from: ["appealed"], path: "appeal/reject" },
];

/** What a director may resolve (supervisor/lifecycle.py may_resolve, dispositions_for):
 * yellow warnings, as 已核实 or 已整改. A red alert is the inspectors' to close; a director
 * who finds an alert wrong appeals. */
const DIRECTOR_RESOLVES = new Set(["yellow"]);
const DISPOSITIONS = ["verified", "rectified", "held_accountable", "false_alarm"];
const DIRECTOR_DISPOSITIONS = ["verified", "rectified"];

/** The alert actions `role` may take on an alert in `status` of `severity`, in the order
 * shown; `appealRejected`: an appeal of it was rejected, which is final
 * (supervisor/lifecycle.py appeal_decided). */
export function alertActions(role, status, severity, appealRejected = false) {
  return ALERT_STEPS.filter((step) => step.roles.includes(role) && step.from.includes(status))
    .filter((step) => step.action !== "resolve" || role !== "director" || DIRECTOR_RESOLVES.has(severity))
    .filter((step) => step.action !== "appeal" || !appealRejected)
    .map((step) => step.action);
}

/** The dispositions `role` may resolve an alert with, in the order shown. */
export function dispositionsFor(role) {
  if (role === "director") return DIRECTOR_DISPOSITIONS;
  return BOTH.includes(role) ? DISPOSITIONS : [];
}

/** The API path ending of an alert action ("appeal/accept"). */
export function actionPath(action) {
  const step = ALERT_STEPS.find((one) => one.action === action);
  if (!step) throw new Error(`unknown action ${action}`);
  return step.path;
}

/** Whether `role` may open the assessment (绩效考核): anyone who may see alerts (the
 * service's Viewer); which centers it covers is the service's to say. */
export function mayViewAssessment(role) {
  return BOTH.includes(role);
}

/** Alert statuses no order may be issued on (supervisor/web/supervision.py
 * NOTHING_TO_ORDER answers 409): nothing is left for the center to put right. Withdrawn:
 * found wrong; closed: with its case (concluded in time, withdrawn) or by the reply to an
 * order; superseded: the case's red alert is the one to order on. */
const NOTHING_TO_ORDER = new Set(["withdrawn", "closed", "superseded"]);

/** Whether `role` may issue a supervision order on an alert in `status`: inspectors, on
 * an alert that still stands. */
export function mayIssueOrder(role, status) {
  return role === "inspector" && !NOTHING_TO_ORDER.has(status);
}

/** The steps `role` may take on a supervision order in `status`. */
export function orderActions(role, status) {
  if (role === "director" && (status === "issued" || status === "returned")) return ["reply"];
  if (role === "inspector" && status === "replied") return ["close", "return"];
  // 撤销: an order with nothing left to put right (its alert delisted, its case concluded)
  if (role === "inspector" && (status === "issued" || status === "returned")) return ["cancel"];
  return [];
}
