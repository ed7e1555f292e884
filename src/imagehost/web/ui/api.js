// The JSON API of the service this page came from, with the signed-in key as a Bearer token.
import { currentKey } from "./session-key.js";

// The service root: the page lives at <ROUTE_PREFIX>/ui/.
export const root = new URL("../", document.baseURI);

export function apiUrl(path, params) {
  const url = new URL(path.replace(/^\//, ""), root);
  if (params) url.search = new URLSearchParams(params).toString();
  return url;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function authHeaders(key = currentKey()) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export async function errorOf(response) {
  let code = "http_error";
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    code = body.error || code;
    message = body.message || body.detail || message;
  } catch { /* not JSON */ }
  return new ApiError(response.status, code, message);
}

// fetch + JSON: `json` is sent as the body; answers the parsed body or throws ApiError.
export async function api(path, { method = "GET", params, json, contentType, key, signal } = {}) {
  const headers = authHeaders(key);
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(apiUrl(path, params), { method, headers, body, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network", "The service could not be reached.");
  }
  if (!response.ok) throw await errorOf(response);
  return response.json();
}
