"""The reproduction book at the smoke scale: `jupyter-book build book` succeeds without warnings, works
offline (no asset from the network), and every page opens in headless Chromium with its figures present and
no broken internal link.

The build (shared with tests/report/test_notebooks.py) executes every notebook of the book against a private run
store, so it also computes the smoke-scale runs: about two minutes on a 2-core machine.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from book_helpers import toc_files
from helpers import needs_fashion_mnist

pytestmark = [needs_fashion_mnist, pytest.mark.slow, pytest.mark.xdist_group("book")]  # one build per run

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FIGURE_PAGES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8")


def page_path(book, page: str) -> Path:
    return book.html / f"{page}.html"


# ipykernel >= 7.4 warns at every kernel start that its (loopback) TCP transport is unencrypted: not a build problem
HARMLESS = ("Kernel is running over TCP without encryption",)


def build_problems(log: str) -> list[str]:
    """Every WARNING / ERROR line of a build log, each with the traceback printed after it (a kernel's logger
    prints the exception's traceback on the lines that follow), so a failure shows its cause."""
    lines = log.splitlines()
    problems = []
    for i, line in enumerate(lines):
        if not re.search(r"\bWARNING\b|\bERROR\b", line) or any(h in line for h in HARMLESS):
            continue
        block = [line]
        j = i + 1
        if j < len(lines) and lines[j].startswith("Traceback"):
            block.append(lines[j])
            j += 1
            while j < len(lines) and lines[j].startswith(" "):  # the frames
                block.append(lines[j])
                j += 1
            block += lines[j:j + 1]  # the exception itself
        problems.append("\n".join(block))
    return problems


def test_build_has_every_page_and_no_warning(book):
    for page in toc_files():
        assert page_path(book, page).is_file(), f"{page}.html missing from the built book"
    problems = build_problems(book.log)
    assert not problems, "the build warned:\n" + "\n".join(problems[:10])
    assert "Executing notebook failed" not in book.log


def test_build_problems_keep_the_traceback():
    log = ("reading sources... fig2\n[IPKernelApp] WARNING | Kernel is running over TCP without encryption.\n"
           "ERROR:tornado.general:Uncaught exception in ZMQStream callback\nTraceback (most recent call last):\n"
           '  File "iostream.py", line 1, in _really_send\n    self.socket.send_multipart(msg)\n'
           "zmq.error.ZMQError: Socket operation on non-socket\nreading sources... fig3\n"
           "WARNING: image file not readable: x.png\n")
    problems = build_problems(log)
    assert len(problems) == 2
    assert problems[0].splitlines()[0].startswith("ERROR:tornado.general")
    assert problems[0].splitlines()[-1] == "zmq.error.ZMQError: Socket operation on non-socket"
    assert problems[1] == "WARNING: image file not readable: x.png"


def test_book_is_offline(book):
    """No script, stylesheet, image or font is fetched from the network (the book must open offline)."""
    remote = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*?(?:src|href)=["'](?:https?:)?//""", re.I)
    offenders = []
    for html in book.html.rglob("*.html"):
        offenders += [f"{html.name}: {m.group(0)[:120]}" for m in remote.finditer(html.read_text())]
    assert not offenders, "assets loaded from the network:\n" + "\n".join(offenders[:20])
    assert (book.html / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not served locally"


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


def _ids(path: Path, cache: dict) -> set[str]:
    if path not in cache:
        parser = _Ids()
        parser.feed(path.read_text(errors="replace"))
        cache[path] = parser.ids
    return cache[path]


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(f"headless Chromium is needed ({CHROMIUM}, {CHROMEDRIVER}): `make browser` or "
                    f"`apt-get install chromium chromium-driver`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="ctslib-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1280,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_pages_open_with_figures_and_links(book, browser):
    ids: dict = {}
    broken, missing_images = [], []
    pages = ["index"] + toc_files()
    for page in pages:
        path = page_path(book, page)
        browser.get(path.as_uri())
        browser.execute_script("return document.readyState")  # the page is loaded (get() waits for onload)
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
        missing_images += [f"{page}: {src}" for src, complete, width in images if not (complete and width > 0)]
        if page.rpartition("/")[2] in FIGURE_PAGES:
            assert any(width > 0 for _, _, width in images), f"{page} shows no figure"
        for href in browser.execute_script(
                "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
            url = urlparse(href)
            if url.scheme != "file":
                continue  # external links (e.g. the paper's references) are not the book's to check
            target = Path(unquote(url.path))
            if not target.exists():
                broken.append(f"{page} -> {href}")
            elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in _ids(target, ids):
                broken.append(f"{page} -> {href} (no such anchor)")
    assert not missing_images, "images that did not load:\n" + "\n".join(missing_images)
    assert not broken, "broken internal links:\n" + "\n".join(sorted(set(broken))[:30])


def test_math_is_rendered_offline(book, browser):
    browser.get(page_path(book, "method").as_uri())
    rendered = browser.execute_script(
        "return new Promise(done => { const t0 = Date.now(); (function wait() {"
        " const n = document.querySelectorAll('mjx-container').length;"
        " if (n > 0 || Date.now() - t0 > 10000) done(n); else setTimeout(wait, 200); })(); })")
    assert rendered > 0, "MathJax did not typeset the method page"


def _bokeh_state(browser) -> dict:
    return browser.execute_script(
        "const doc = Bokeh.documents[0]; const m = n => doc.get_model_by_name(n);"
        "return {a: m('figure_a').title.text, b: m('figure_b').title.text, iou: m('figure_iou').title.text,"
        " url: m('mask_a').data.url[0], density: m('density').value, options: m('density').options,"
        " methods: m('method_a').options};")


def test_static_explorer_changes_in_the_browser(book, browser):
    """The explorer page works with no kernel: choosing another density, method or layer redraws the masks
    (the pictures on the page change, not only the data behind them)."""
    browser.get(page_path(book, "notebooks/explorer").as_uri())
    ready = browser.execute_script(
        "return new Promise(done => { const t0 = Date.now(); (function wait() {"
        " const doc = window.Bokeh && Bokeh.documents[0];"
        " const url = doc && doc.get_model_by_name('mask_a').data.url[0];"
        " if (url || Date.now() - t0 > 15000) done(Boolean(url)); else setTimeout(wait, 200); })(); })")
    assert ready, "the explorer did not draw its first state"
    first = _bokeh_state(browser)
    assert first["url"].startswith("data:image/png;base64,") and "no run" not in first["a"]
    before = browser.get_screenshot_as_png()
    other = next(d for d in first["options"] if d != first["density"])
    browser.execute_script(f"Bokeh.documents[0].get_model_by_name('density').value = {other!r};")
    browser.execute_script("return new Promise(done => setTimeout(() => done(true), 800))")
    second = _bokeh_state(browser)
    assert second["density"] == other and second["url"] != first["url"] and second["iou"] != first["iou"]
    after = browser.get_screenshot_as_png()
    assert after != before, "the page looks the same after choosing another density"
    method = next(m for m in first["methods"] if m not in first["a"])
    browser.execute_script(f"Bokeh.documents[0].get_model_by_name('method_a').value = {method!r};")
    browser.execute_script("return new Promise(done => setTimeout(() => done(true), 800))")
    third = _bokeh_state(browser)
    assert third["a"].startswith(method)
    assert browser.get_screenshot_as_png() != after
    browser.execute_script("Bokeh.documents[0].get_model_by_name('layer').value = "
                           "Bokeh.documents[0].get_model_by_name('layer').options.at(-1);")
    browser.execute_script("return new Promise(done => setTimeout(() => done(true), 800))")
    assert _bokeh_state(browser)["url"] != third["url"]


def _text_outside_code(browser) -> str:
    """The page's visible text, without its code cells' inputs and code blocks (code may say None)."""
    return browser.execute_script(
        "const root = document.querySelector('main') || document.body; const copy = root.cloneNode(true);"
        "copy.querySelectorAll('.cell_input, pre, code, script, style, .headerlink').forEach(e => e.remove());"
        "return copy.textContent;")


MACHINE_PATH = re.compile(r"(?:^|[\s(\"'`])/(?:tmp|work|root|home)/\S+")


def test_pages_say_no_nan_none_traceback_or_machine_path(book, browser):
    offenders = []
    for page in ["intro"] + toc_files():
        browser.get(page_path(book, page).as_uri())
        text = _text_outside_code(browser)
        for pattern in (r"\bnan\b", r"\bNaN\b", r"\bNone\b", r"Traceback"):
            for m in re.finditer(pattern, text):
                offenders.append(f"{page}: ...{text[max(0, m.start() - 60):m.end() + 40]!r}")
        offenders += [f"{page}: {m.group(0).strip()}" for m in MACHINE_PATH.finditer(text)]
    assert not offenders, "pages that say nan / None / Traceback or a machine path:\n" + "\n".join(offenders[:20])


def _tables(browser) -> list[dict]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('main table')).map(t => ({right: t.getBoundingClientRect().right,"
        " width: t.scrollWidth, room: t.parentElement.clientWidth, text: t.innerText.slice(0, 60),"
        " cells: Array.from(t.querySelectorAll('td')).map(c => c.innerText.trim())}));")


def test_front_page_and_claims_page_show_the_results_and_agree(book, browser):
    """The front page opens with the verdict counts per evidence set and the headline claims; the claims page's
    tables fit a 1400 px window; every headline cell of the front page appears, the same, on the claims page."""
    browser.set_window_size(1400, 1600)
    try:
        browser.get(page_path(book, "intro").as_uri())  # the front page (index.html redirects to it)
        text = _text_outside_code(browser)
        assert "Claims per verdict" in text and "The headline claims" in text
        front = _tables(browser)
        counts = next(t for t in front if "evidence" in t["text"])
        assert any(c.startswith("their ResNet-20") for c in counts["cells"]), counts["cells"]
        headline = next(t for t in front if "claim" in t["text"] and t is not counts)
        browser.get(page_path(book, "notebooks/claims").as_uri())
        tables = _tables(browser)
        viewport = browser.execute_script("return window.innerWidth")
        too_wide = [t["text"] for t in tables if t["right"] > viewport + 1 or t["width"] > t["room"] + 1]
        assert not too_wide, f"claims tables wider than a 1400 px window: {too_wide}"
        assert len(tables) >= 4  # headline, overview, one per evidence set
        claims_cells = {c for t in tables for c in t["cells"]}
        missing = [c for c in headline["cells"] if c and c not in claims_cells]
        assert not missing, f"front-page cells the claims page does not show the same: {missing[:5]}"
    finally:
        browser.set_window_size(1280, 1600)
