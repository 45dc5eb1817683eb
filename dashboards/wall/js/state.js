/* What the page holds, shared by its modules: the alerts the socket brought, the county
 * drilled into, the centers of the board, the header's figures, who is watching, and
 * whether the server refused the page.
 *
 * No DOM (node imports it). */

import { Centers } from "./centers.js";
import { newStream } from "./feed.js";
import { newFigures } from "./figures.js";

export const state = {
  /** Every alert in scope, what the page heard of each, the last journal position. */
  stream: newStream(),
  /** The list of the county drilled into (feed.js newFeed), or null. */
  area: null,
  centers: new Centers(),
  figures: newFigures(),
  /** /api/me: {name, role, center}. */
  me: null,
  /** null while allowed; "missing", "token" or "forbidden" once refused (final). */
  refused: null,
  /** The socket: "connecting", "connected", "reconnecting" or "refused". */
  socketState: "connecting",
  /** Whether the server's Kafka feed is up (/healthz). */
  feedOk: true,
  /** Bumped by every socket message that moved (or may have moved) the counts. */
  socketGen: 0,
};

/** The list shown: the county's when drilled into, else every alert in scope. */
export function activeFeed() {
  return state.area || state.stream.all;
}
