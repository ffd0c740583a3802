// The console's hash routes (#/live, #/users/u_…?q=…): what the shell reads from the address and
// hands to each page.

export interface Route {
  path: string[];
  params: URLSearchParams;
}

/** A page draws itself into `main` for its route; what it returns is called when the page is left. */
export type PageFn = (main: HTMLElement, route: Route) => void | (() => void);

export function parseRoute(): Route {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  return { path: (path ?? "").split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query ?? "") };
}
