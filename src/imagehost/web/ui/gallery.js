// The gallery: newest first, endless scrolling on the keyset cursor, the filter language,
// and the upload panel for keys with the write scope.
import { api, ApiError } from "./api.js";
import { debounce, h } from "./dom.js";
import { releaseImages, thumbnailImage, thumbnails } from "./images.js";
import { can, session } from "./session.js";
import { uploadPanel } from "./upload.js";

const PAGE = 60;
const FIELDS = "id,file,status,format,width,height,time";
// "Newest first" is by id (the order records were added): the primary key pages fast at any
// depth, where a sort on time makes SQLite sort every live row for each page.
export const SORTS = [
  ["-id", "Newest first"],
  ["id", "Oldest first"],
  ["-time", "Latest time"],
  ["file", "File name"],
  ["-bytes", "Largest first"],
  ["-published", "Recently published"],
];
const EXAMPLES = `Examples (join conditions with &):
  cam1                      file names containing "cam1"
  data.site=site-4          a data value (numbers, true, false, null are typed)
  data.temp__gt=20          also __gte, __lt, __lte, __ne, __in=a,b, __exists=true
  file=plots/&status=active  a key prefix, and the status (incoming, active)
  regex=\\.png$              an RE2 pattern searched in the file
  from=2026-01-01           uploaded on or after (to= for before)`;

// "a=b&cam1" -> URLSearchParams; a term without "=" searches the file names.
export function filterParams(text) {
  const params = new URLSearchParams();
  for (const raw of text.split(/&|\n/)) {
    const term = raw.trim();
    if (!term) continue;
    const at = term.indexOf("=");
    if (at > 0) params.append(term.slice(0, at).trim(), term.slice(at + 1).trim());
    else params.append("regex", term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  }
  return params;
}

const state = { filter: "", sort: "-id" };

export function render(main) {
  const filterInput = h("input", {
    id: "filter", type: "search", value: state.filter, autocomplete: "off", spellcheck: "false",
    "aria-describedby": "filter-error filter-help-text", placeholder: "data.site=site-4 & cam1",
  });
  const sortSelect = h("select", { id: "sort" },
    SORTS.map(([value, label]) => h("option", { value, selected: value === state.sort }, label)));
  const filterError = h("p", { id: "filter-error", class: "error", role: "alert" });
  const count = h("p", { class: "count", id: "gallery-count", "aria-live": "polite" });
  const grid = h("ul", { class: "grid", id: "gallery-grid", "aria-labelledby": "gallery-title" });
  const moreButton = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  const more = h("div", { class: "more" }, moreButton);
  const prompt = h("div", { class: "panel prompt", hidden: true });
  const form = h("form", { class: "find", role: "search", "aria-label": "Find images" },
    h("div", { class: "field grow" }, h("label", { for: "filter" }, "Filter"), filterInput),
    h("div", { class: "field" }, h("label", { for: "sort" }, "Sort"), sortSelect),
    h("button", { type: "submit" }, "Apply"),
    filterError,
    h("details", {},
      h("summary", {}, "Filter help"),
      h("pre", { id: "filter-help-text" }, EXAMPLES),
      h("details", {}, h("summary", {}, "Every filter parameter"),
        h("pre", {}, session.filter_help))));

  const heading = h("h1", { id: "gallery-title" }, "Gallery");
  main.replaceChildren(heading);
  if (can("write")) main.append(uploadPanel({ onUploaded: (record) => prepend(record) }));
  main.append(form, prompt, count, grid, more);

  let generation = 0;
  let cursor = null;
  let loading = false;
  let shown = 0;
  let total = 0;

  function showCount() {
    count.textContent = total ? `Showing ${shown} of ${total} images` : "No images match.";
  }

  async function loadPage() {
    if (loading) return;
    loading = true;
    const mine = generation;
    const params = filterParams(state.filter);
    params.set("sort", state.sort);
    params.set("limit", String(PAGE));
    params.set("select", FIELDS);
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await api("images", { params });
      if (mine !== generation) return;
      const sources = await thumbnails(page.items);
      if (mine !== generation) return;
      grid.append(...page.items.map((record) => tile(record, sources.get(record.id))));
      shown += page.items.length;
      total = page.total;
      cursor = page.next_cursor;
      filterError.textContent = "";
      filterInput.removeAttribute("aria-invalid");
      showCount();
    } catch (error) {
      if (mine !== generation) return;
      cursor = null;
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        showPrompt(error);
      } else if (error instanceof ApiError && error.status === 400) {
        filterError.textContent = error.message;
        filterInput.setAttribute("aria-invalid", "true");
        count.textContent = "";
      } else {
        filterError.textContent = error.message;
      }
    } finally {
      if (mine === generation) {
        loading = false;
        moreButton.hidden = !cursor;
      }
    }
  }

  function showPrompt(error) {
    prompt.hidden = false;
    form.hidden = error.status === 401;
    prompt.replaceChildren(
      h("p", {}, h("strong", {}, error.status === 401
        ? "Sign in to see the gallery." : "This API key cannot list images.")),
      h("p", {}, error.status === 401
        ? "Listing images needs an API key with the read scope: enter it in the API key box "
          + "above and choose Sign in. Published images and their derived sizes stay public."
        : error.message));
    count.textContent = "";
  }

  function restart() {
    generation += 1;
    cursor = null;
    loading = false;
    shown = 0;
    total = 0;
    prompt.hidden = true;
    form.hidden = false;
    releaseImages();
    grid.replaceChildren();
    loadPage();
  }

  async function prepend(record) {
    const sources = await thumbnails([record]);
    grid.prepend(tile(record, sources.get(record.id)));
    shown += 1;
    total += 1;
    showCount();
  }

  const applyFilter = () => {
    state.filter = filterInput.value;
    state.sort = sortSelect.value;
    restart();
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); applyFilter(); });
  filterInput.addEventListener("input", debounce(() => {
    if (filterInput.value !== state.filter) applyFilter();
  }, 500));
  sortSelect.addEventListener("change", applyFilter);
  moreButton.addEventListener("click", () => loadPage());

  const sentinel = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && cursor && !loading) loadPage();
  }, { rootMargin: "1200px" });
  sentinel.observe(more);
  restart();

  return () => {
    generation += 1;
    sentinel.disconnect();
    releaseImages();
  };
}

function tile(record, source = {}) {
  const name = record.file;
  const thumb = h("span", { class: "thumb" }, thumbnailImage(source, name));
  if (/^#[0-9a-f]{6}$/.test(record.color ?? "")) thumb.style.backgroundColor = record.color;
  const caption = h("span", { class: "caption", "aria-hidden": "true" }, name.split("/").pop(),
    record.status === "active" ? null : [" ", h("span", { class: "badge" }, record.status)]);
  const status = record.status === "active" ? null
    : h("span", { class: "visually-hidden" }, ` (${record.status})`);
  return h("li", { class: "tile", dataset: { id: record.id } },
    h("a", { href: `#/image/${record.id}` }, thumb, caption, status));
}
