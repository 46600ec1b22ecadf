"""The site checker of ``make docs`` (``.ci/check_site.py``) on a small site written here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_site", ROOT / ".ci" / "check_site.py")
check_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_site)


def write(path: Path, html: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{html}</body></html>")


def test_good_links_pass_and_each_broken_one_is_named(tmp_path):
    write(tmp_path / "index.html", """
        <a href="guide/">guide</a> <a href="guide/index.html#usage">usage</a> <a href="#top">top</a>
        <h1 id="top">Top</h1> <a href="https://example.org/">external</a> <img src="img/plot.png">
        <a href="tutorials/02_two.html">tutorial 2</a> <a href="tutorials/02_two.html#missing">x</a>
        <a href="tutorials/02_two.ipynb">old notebook link</a>
        <script>var s = "issue 3 in a script is not text";</script>""")
    write(tmp_path / "guide" / "index.html", '<h2 id="usage">Usage</h2><a href="../index.html">home</a>')
    write(tmp_path / "tutorials" / "02_two.html", "<p>See issue 4 for details.</p>")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "plot.png").write_bytes(b"png")
    problems = check_site.check_site(tmp_path)
    assert problems == [
        "index.html: broken link 'tutorials/02_two.html#missing' (no anchor #missing on that page)",
        "index.html: broken link 'tutorials/02_two.ipynb' (no such file in the site)",
        "tutorials/02_two.html: refers to the issue tracker: 'issue 4'",
    ]
    assert check_site.main([str(tmp_path)]) == 1


def test_a_clean_site_passes_and_an_empty_one_does_not(tmp_path, capsys):
    write(tmp_path / "index.html", '<a href="#a" id="a">self</a>')
    assert check_site.main([str(tmp_path)]) == 0
    assert check_site.main([str(tmp_path / "missing")]) == 1
    assert "no HTML pages" in capsys.readouterr().out
