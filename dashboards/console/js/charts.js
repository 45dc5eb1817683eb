/* Apache ECharts for the console's charts: its vendored build (dashboards/vendor/echarts/,
 * the version pinned in dashboards/package.json) served by the service itself at
 * /vendor/, loaded once, when a screen first draws a chart (the other screens never pay
 * for its megabyte). Nothing comes from another origin: the page's policy runs scripts
 * of its own origin only. */

import { rootPath } from "./api.js";

/** Where the service serves the library, below its root. */
export const ECHARTS_PATH = "vendor/echarts/echarts.min.js";

let loading = null;

/** The library (its global `echarts`), loading it on first use; a failure is retried
 * next time. */
export function loadECharts() {
  if (globalThis.echarts) return Promise.resolve(globalThis.echarts);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = rootPath() + ECHARTS_PATH;
      script.async = true;
      script.addEventListener("load", () => {
        if (globalThis.echarts) resolve(globalThis.echarts);
        else reject(new Error("ECharts did not define itself"));
      });
      script.addEventListener("error", () => {
        loading = null;
        script.remove();
        reject(new Error(`${ECHARTS_PATH} did not load`));
      });
      document.head.append(script);
    });
  }
  return loading;
}

/** The charts of one screen: `draw(node, option)` draws (or draws again) a chart in
 * `node`; they follow the window's size; `dispose()` when the screen closes. */
export function chartBoard() {
  const charts = new Map();
  const resize = () => {
    for (const chart of charts.values()) chart.resize();
  };
  window.addEventListener("resize", resize);
  return {
    /** Draw `option` in `node`, replacing what it showed. Rejects when ECharts cannot
     * be loaded. */
    async draw(node, option) {
      const echarts = await loadECharts();
      let chart = charts.get(node);
      if (!chart || chart.isDisposed()) {
        chart = echarts.init(node, null, { renderer: "canvas" });
        charts.set(node, chart);
      }
      chart.setOption(option, { notMerge: true });
      return chart;
    },
    /** Forget the chart of `node` (it leaves the page). */
    drop(node) {
      charts.get(node)?.dispose();
      charts.delete(node);
    },
    dispose() {
      window.removeEventListener("resize", resize);
      for (const chart of charts.values()) chart.dispose();
      charts.clear();
    },
  };
}
