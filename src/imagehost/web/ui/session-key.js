// The API key of this tab: kept in sessionStorage, so it goes when the tab closes.
const STORAGE = "imagehost.apiKey";

export function currentKey() {
  try {
    return window.sessionStorage.getItem(STORAGE) || "";
  } catch {
    return "";
  }
}

export function storeKey(key) {
  if (key) window.sessionStorage.setItem(STORAGE, key);
  else window.sessionStorage.removeItem(STORAGE);
}
