/* What a person reads when a request fails. Pure (node tests run it).
 *
 * The service answers `{"detail": …}`. Its details meant for people are in Chinese (a
 * refused sign-in, a supervision order's step), and those are shown as they are; the
 * others are for developers (English, or a list of validation errors) and a person reads
 * the general text of the status instead. */

const CHINESE = /[\u3400-\u9fff]/;

/** A failed request: `status` 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

/** The text of `error` (an ApiError, or anything thrown) in the language of `texts`. */
export function errorText(error, texts) {
  const status = error instanceof ApiError ? error.status : 0;
  if (status === 0) return texts.errors.network;
  const general = texts.errors.status[status] ?? texts.errors.other(status);
  const detail = typeof error.detail === "string" ? error.detail.trim() : "";
  return CHINESE.test(detail) ? texts.errors.withDetail(general, detail) : general;
}

/** How a bulk 签收 went for each chosen alert, `{alert, ok, text}`, from the service's
 * `results` (matched by id: each with the code a single 签收 would have answered). An
 * alert the answer does not mention failed. */
export function bulkOutcomes(chosen, results, texts) {
  const byId = new Map((results ?? []).map((one) => [one.alert_id, one]));
  return chosen.map((alert) => {
    const one = byId.get(alert.alert_id);
    if (one?.code === 200) return { alert, ok: true, text: texts.list.bulkOk };
    const error = new ApiError(one?.code ?? 500, one?.detail);
    return { alert, ok: false, text: errorText(error, texts) };
  });
}
