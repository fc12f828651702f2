import { type Html, html } from './html.js';

/**
 * The frame of a server-rendered page without a signed-in user (the hosted connect pages; anyone may reuse it):
 * one stylesheet from /assets (the CSP allows no inline style or script), no referrer (the connect flow's URLs carry
 * session ids), a plain header, then `body` in `<main>`.
 */
export interface PageFrame {
  title: string;
  /** A narrow column, for short pages (outcomes, choices). */
  narrow?: boolean;
  /** `data-page` on `<body>`, so tests and people can tell pages apart. */
  pageId?: string;
}

export function renderPublicPage(frame: PageFrame, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${frame.title} · mailbridge</title>
<link rel="stylesheet" href="/assets/app.css">
</head>
<body${frame.pageId ? html` data-page="${frame.pageId}"` : ''}>
<header class="top"><span class="brand">mailbridge</span></header>
<main${frame.narrow ? html` class="narrow"` : ''}>
${body}
</main>
</body>
</html>
`.toString();
}
