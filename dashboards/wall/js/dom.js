/* The page's elements (index.html), and building new ones: every text goes in as text
 * (an alert's message cannot inject markup), no inline style or handler (the
 * Content-Security-Policy forbids both). The browser's only: main.js imports it. */

const $ = (id) => document.getElementById(id);

export const els = {
  list: $("alerts"),
  empty: $("empty"),
  red: $("count-red"),
  yellow: $("count-yellow"),
  redFigure: $("figure-red"),
  accepted: $("fig-accepted"),
  openCases: $("fig-open"),
  rateToday: $("rate-today"),
  rateMonth: $("rate-month"),
  conn: $("conn"),
  connText: $("conn-text"),
  fresh: $("fresh"),
  freshText: $("fresh-text"),
  clock: $("clock"),
  clockDate: $("clock-date"),
  shown: $("foot-shown"),
  viewer: $("viewer"),
  lang: $("lang"),
  sound: $("sound"),
  notice: $("notice"),
  noticeTitle: $("notice-title"),
  noticeDetail: $("notice-detail"),
  back: $("back"),
  centersTitle: $("centers-title"),
  feedTitle: $("feed-title"),
  focus: $("focus"),
  tiles: $("tiles"),
};

/** `<tag class="className">text</tag>`. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** (Re)start the flash animation of a node. */
export function flash(node) {
  node.classList.remove("flash");
  void node.offsetWidth; // let the removal take effect, so the animation starts again
  node.classList.add("flash");
  node.addEventListener("animationend", () => node.classList.remove("flash"), { once: true });
}

/** `body[data-<key>]`: what the tests and the style read of the page's state. */
export function mark(key, value) {
  document.body.dataset[key] = value;
}
