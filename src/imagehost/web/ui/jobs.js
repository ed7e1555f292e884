// Jobs and health: the bulk jobs with their progress (refreshed while one runs), the health
// checks, and the overview: images and bytes per store, uploads per day, cache hit ratio.
import { api, apiUrl, ApiError } from "./api.js";
import { debounce, formatBytes, formatTime, h, svg } from "./dom.js";
import { can } from "./session.js";

const REFRESH_MS = 1500;

export function render(main) {
  const health = h("section", { "aria-labelledby": "health-title" },
    h("h2", { id: "health-title" }, "Health"), h("p", {}, "Checking…"));
  const jobs = h("section", { "aria-labelledby": "jobs-title" },
    h("h2", { id: "jobs-title" }, "Bulk jobs"));
  const overview = h("section", { "aria-labelledby": "overview-title" },
    h("h2", { id: "overview-title" }, "Overview"));
  main.replaceChildren(h("h1", {}, "Jobs and health"), health, jobs, overview);
  if (!can("read")) {
    const prompt = () => h("div", { class: "panel prompt" },
      h("p", {}, h("strong", {}, "Sign in to see the jobs and the overview.")),
      h("p", {}, "They need an API key with the read scope. The health checks are public."));
    jobs.append(prompt());
  }

  let alive = true;
  let timer = 0;
  const jobsBody = h("div", { "aria-live": "off" });
  if (can("read")) jobs.append(jobsBody);

  async function refresh() {
    const tasks = [showHealth(health)];
    if (can("read")) tasks.push(showJobs(jobsBody), showOverview(overview));
    const [, running] = await Promise.all(tasks.map((task) => task.catch((error) => {
      console.error(error);
      return false;
    })));
    if (alive && running) timer = window.setTimeout(refreshJobs, REFRESH_MS);
  }

  async function refreshJobs() {
    if (!alive) return;
    let running = false;
    try {
      running = await showJobs(jobsBody);
    } catch (error) {
      jobsBody.replaceChildren(h("p", { class: "error" }, error.message));
    }
    if (!alive) return;
    if (running) timer = window.setTimeout(refreshJobs, REFRESH_MS);
    else showOverview(overview).catch(() => {});
  }

  const redraw = debounce(() => redrawChart(overview), 200);
  window.addEventListener("resize", redraw);
  refresh();
  return () => {
    alive = false;
    window.clearTimeout(timer);
    window.removeEventListener("resize", redraw);
  };
}

// At a new width the chart is drawn again, so that its labels keep their size.
function redrawChart(section) {
  const box = section.querySelector(".chart-box");
  if (box && box.days) box.replaceChildren(chart(box.days, box.clientWidth));
}

async function showHealth(section) {
  let report;
  try {
    const response = await fetch(apiUrl("health"));
    report = await response.json();
  } catch {
    report = { status: "unreachable", checks: {} };
  }
  const ok = report.status === "ok";
  const list = h("ul", {}, Object.entries(report.checks || {}).map(([name, value]) =>
    h("li", {}, h("strong", {}, name), ": ",
      h("span", { class: value === "ok" ? "ok" : "error" }, value))));
  const pool = report.pool
    ? h("p", {}, `Work pool: ${report.pool.in_flight} of ${report.pool.capacity} in use.`) : null;
  section.replaceChildren(section.firstChild,
    h("p", {}, "Status: ", h("strong", { class: ok ? "ok" : "error", id: "health-status" },
      ok ? "ok" : report.status)), list, pool);
}

// Draws the job table; true while a job is running.
async function showJobs(container) {
  const { jobs } = await api("ui/api/jobs");
  if (!jobs.length) {
    container.replaceChildren(h("p", { class: "muted" },
      "No bulk jobs yet. Run imagehost migrate, resize, transfer or reindex; their "
      + "progress shows here."));
    return false;
  }
  const rows = jobs.map((job) => {
    const { counts } = job;
    const bar = h("progress", { max: counts.total || 1, "aria-label": `Job ${job.id} progress` });
    if (job.progress !== null) bar.value = counts.total ? counts.total - counts.pending : 1;
    const percent = job.progress === null ? "listing…" : `${Math.floor(job.progress * 100)} %`;
    return h("tr", { dataset: { job: job.id, state: job.state } },
      h("td", {}, h("strong", {}, `#${job.id} ${job.kind}`),
        paramsText(job.params) ? h("div", { class: "muted mono" }, paramsText(job.params)) : null),
      h("td", {}, h("span", { class: `state-${job.state}` }, job.state)),
      h("td", { class: "wide" }, bar, " ", h("span", {}, percent)),
      h("td", {}, `${counts.done} done, ${counts.skipped} skipped, ${counts.failed} failed, `
        + `${counts.pending} pending`),
      h("td", {}, formatTime(job.started)));
  });
  container.replaceChildren(h("div", { class: "scroll-x" },
    h("table", { class: "data jobs", "aria-labelledby": "jobs-title" },
      h("thead", {}, h("tr", {}, ["Job", "State", "Progress", "Items", "Started"]
        .map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows))));
  return jobs.some((job) => job.state === "running");
}

function paramsText(params) {
  return Object.entries(params || {}).map(([name, value]) =>
    `${name}=${Array.isArray(value) ? value.join(",") : value}`).join(" ");
}

async function showOverview(section) {
  let data;
  try {
    data = await api("ui/api/overview");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    throw error;
  }
  const totals = h("table", { class: "data" },
    h("caption", { class: "visually-hidden" }, "Images and bytes per store"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Store"),
      h("th", { scope: "col" }, "Status"), h("th", { scope: "col", class: "num" }, "Images"),
      h("th", { scope: "col", class: "num" }, "Bytes"))),
    h("tbody", {}, data.statuses.map((row) => h("tr", {},
      h("td", {}, row.store || "(none: tombstones)"), h("td", {}, row.status),
      h("td", { class: "num" }, row.images.toLocaleString()),
      h("td", { class: "num" }, row.store ? formatBytes(row.bytes) : "")))));
  const ratio = data.derived.ratio;
  const cache = h("div", {},
    h("h3", {}, "Derived image cache"),
    h("p", { id: "cache-ratio" }, ratio === null ? "No derived images served yet."
      : `Hit ratio ${(ratio * 100).toFixed(1)} %: ${data.derived.hits} answered from cache, `
        + `${data.derived.misses} rendered.`),
    ratio === null ? null : h("meter", { min: 0, max: 1, value: ratio, low: 0.5, optimum: 1,
      "aria-label": "Derived cache hit ratio" }));
  const chartBox = h("div", { class: "chart-box" });
  chartBox.days = data.uploads_per_day;
  section.replaceChildren(section.firstChild,
    h("div", { class: "cards" },
      h("div", {}, h("h3", {}, "Stores"), totals, cache),
      h("div", {}, h("h3", { id: "chart-title" }, "Uploads per day, last 30 days"), chartBox,
        h("details", {}, h("summary", {}, "The same as a table"),
          h("table", { class: "data" },
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"),
              h("th", { scope: "col", class: "num" }, "Uploads"))),
            h("tbody", {}, data.uploads_per_day.map((day) => h("tr", {},
              h("td", {}, day.day), h("td", { class: "num" }, day.images)))))))));
  chartBox.append(chart(data.uploads_per_day, chartBox.clientWidth));
}

// Drawn at about its displayed width, so that its labels keep their size on a phone.
function chart(days, available) {
  const width = Math.round(Math.max(300, Math.min(700, available || 600)));
  const height = 200;
  const left = 36;
  const bottom = 24;
  const most = Math.max(1, ...days.map((day) => day.images));
  const step = (width - left - 4) / days.length;
  const scale = (height - bottom - 10) / most;
  const total = days.reduce((sum, day) => sum + day.images, 0);
  const graphic = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-labelledby": "chart-title chart-summary" },
  svg("desc", { id: "chart-summary" },
    `${total} uploads from ${days[0].day} to ${days[days.length - 1].day}; the busiest day had ${most}.`),
  svg("line", { class: "axis", x1: left, y1: height - bottom, x2: width, y2: height - bottom }),
  svg("line", { class: "axis", x1: left, y1: 6, x2: left, y2: height - bottom }),
  svg("text", { x: left - 6, y: 14, "text-anchor": "end" }, most),
  svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end" }, 0));
  days.forEach((day, index) => {
    const barHeight = day.images * scale;
    const x = left + 2 + index * step;
    const bar = svg("rect", { class: "bar", x: x.toFixed(1), y: (height - bottom - barHeight).toFixed(1),
      width: Math.max(1, step - 3).toFixed(1), height: barHeight.toFixed(1) },
    svg("title", {}, `${day.day}: ${day.images} uploads`));
    graphic.append(bar);
    if ((index % 7 === 0 && index < days.length - 4) || index === days.length - 1) {
      graphic.append(svg("text", { x: (x + step / 2).toFixed(1), y: height - 6, "text-anchor": "middle" },
        day.day.slice(5)));
    }
  });
  return graphic;
}
