"""Check a built documentation site (``site/``): every internal link and anchor resolves, and no
page refers to the issue tracker (the word "issue" followed by a number).

Every ``*.html`` file is read, the rendered notebooks (tutorials) included: each ``href`` and
``src`` that is not external must name a file of the site (a folder means its ``index.html``), and
each ``#fragment`` an ``id`` (or ``name``) on the target page. External links (``https:`` and the
like) are not fetched: the build machines have no network.

Usage: ``python .ci/check_site.py [SITE_DIR]`` (default ``site``); exit status 1 with one line per
problem, 0 when clean.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

LINK_ATTRIBUTES = {
    "a": "href", "link": "href", "img": "src", "script": "src", "source": "src", "iframe": "src"
}
TRACKER = re.compile(r"\bissues? #?\d+\b", re.IGNORECASE)
SKIPPED_TEXT = {"script", "style"}


class Page(HTMLParser):
    """The links, anchor ids and visible text of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key):
                self.ids.add(values[key])
        wanted = LINK_ATTRIBUTES.get(tag)
        if wanted and values.get(wanted) is not None:
            self.links.append(values[wanted])
        if tag in SKIPPED_TEXT:
            self._skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TEXT and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.text.append(data)


def read_page(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def target_file(site: Path, page: Path, url: str) -> tuple[Path, str]:
    """The file a relative or site-absolute ``url`` on ``page`` points at, and its fragment."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if not path:
        target = page
    elif path.startswith("/"):
        target = site / path.lstrip("/")
    else:
        target = page.parent / path
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def check_site(site: Path) -> list[str]:
    """One line per broken link, missing anchor or tracker reference in ``site``."""
    site = site.resolve()
    pages = {path: read_page(path) for path in sorted(site.rglob("*.html"))}
    problems = []
    for path, page in pages.items():
        name = path.relative_to(site).as_posix()
        for url in page.links:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or not url.strip() or url == "#":
                continue  # external, or no target
            target, fragment = target_file(site, path, url)
            target = target.resolve()
            if site not in target.parents or not target.is_file():
                problems.append(f"{name}: broken link {url!r} (no such file in the site)")
            elif fragment and target.suffix == ".html" and fragment not in pages[target].ids:
                problems.append(f"{name}: broken link {url!r} (no anchor #{fragment} on that page)")
        for match in TRACKER.finditer(" ".join(page.text)):
            problems.append(f"{name}: refers to the issue tracker: {match.group(0)!r}")
    if not pages:
        problems.append(f"{site}: no HTML pages (build the site first)")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    site = Path(args[0] if args else "site")
    problems = check_site(site)
    for line in problems:
        print(line)
    pages = len(list(site.rglob("*.html"))) if site.is_dir() else 0
    print(f"check_site: {pages} pages, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
