// Typesets the formulas of every page with KaTeX 0.16.22 (MIT licence), shipped in docs/vendor/katex
// (katex.min.js, katex.min.css without the woff/ttf fallbacks, auto-render, woff2 fonts) so that
// the site needs no network. pymdownx.arithmatex (generic mode) leaves \( \) and \[ \] in
// <span class="arithmatex">; the tutorials' notebook cells keep $ and $$.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
