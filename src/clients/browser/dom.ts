// The few DOM helpers both pages use.

export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** A short message at the bottom of the page (the element #notice), gone after 5 s. */
export function showNotice(text: string): void {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
  setTimeout(() => (notice.hidden = true), 5_000);
}
