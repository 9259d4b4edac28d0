"""Browser tests: real headless Chromium (Playwright, sync API) against `live_server`.

One browser per session; every test gets a fresh context, so no cookies or
storage leak between tests. Every page records console errors (which is
where Chromium reports CSP violations and htmx reports failed requests) and
uncaught exceptions; a test that leaves any behind fails at teardown.

Every page a test visits is also checked, once per kind of page per run, at
desktop width and at a 390 px phone width:
1. axe-core (vendored in tests/vendor) reports no critical or serious violation;
2. at 390 px nothing is wider than the screen (no horizontal scrolling).
The check reopens the page with GET in the test's own context (so as the same
person), after the test body, and fails the test on a violation. Tests call
`page_check(page)` themselves for states a GET cannot reach (a form with
errors, a row swapped in by htmx). Results go to var/a11y-report.json.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.smtp import smtp_server, smtp_settings  # noqa: F401 - fixtures

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Chromium logs a CSP violation as a console error too; this makes it
# explicit (and names the directive) even where the message is vaguer.
# Init scripts are injected by the browser, so the CSP does not apply to them.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text(encoding="utf-8")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
REPORT = Path(__file__).resolve().parent.parent / "var" / "a11y-report.json"
# Kinds of page already checked in this run ("/clients/{n}/"), with what was found.
_checked: dict[str, dict] = {}

# The widest element, measured at the phone width: anything whose right edge
# passes the viewport makes the page scroll sideways.
_WIDEST = r"""
() => {
  const vw = document.documentElement.clientWidth;
  let widest = {width: document.documentElement.scrollWidth, what: "document"};
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.position === "fixed") continue;
    // Content clipped by a scrolling or hidden-overflow ancestor does not widen the page.
    let clipped = false;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll" || o === "hidden") { clipped = true; break; }
    }
    if (clipped) continue;
    if (r.right > widest.width) {
      widest = {width: Math.ceil(r.right), what: el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
        (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "")};
    }
  }
  return {viewport: vw, ...widest};
}
"""

_AXE_RUN = """
async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "critical" || v.impact === "serious")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
}
"""


def page_kind(url: str) -> str:
    """ "/clients/12/?q=x" → "/clients/{n}/?q": one check per kind of page, not per row."""
    parts = re.sub(r"^[a-z]+://[^/]+", "", url).split("#")[0].split("?", 1)
    path = re.sub(r"/\d+(?=/|$)", "/{n}", parts[0])
    path = re.sub(r"/[A-Za-z0-9_:-]{20,}(?=/|$)", "/{token}", path)  # ":" for signed tokens (policy/ack)
    keys = sorted(k.split("=")[0] for k in parts[1].split("&") if k) if len(parts) > 1 else []
    return path + ("?" + "&".join(keys) if keys else "")


def page_check(page: Page, label: str = "") -> dict:
    """axe-core at desktop and phone width, and the widest element at 390 px, on the page as it is now.

    Injected with `evaluate` (the strict CSP rightly blocks an added script tag).
    Raises AssertionError naming each violation and anything wider than the screen.
    """
    size = page.viewport_size or DESKTOP
    found: dict = {"url": label or page_kind(page.url)}
    # Measure the page at rest, not an htmx swap in flight.
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')")
    try:
        if not page.evaluate("typeof axe !== 'undefined'"):
            page.evaluate(AXE_SOURCE)
        page.set_viewport_size(DESKTOP)
        found["desktop"] = page.evaluate(_AXE_RUN)
        page.set_viewport_size(PHONE)
        found["phone"] = page.evaluate(_AXE_RUN)
        found["widest_at_390"] = page.evaluate(_WIDEST)
    finally:
        page.set_viewport_size(size)
    _checked[found["url"]] = found
    problems = [
        f"{width}: {v['impact']} {v['id']} ({v['help']}) at {v['targets']}"
        for width in ("desktop", "phone")
        for v in found[width]
    ]
    widest = found["widest_at_390"]
    if widest["width"] > PHONE["width"]:
        problems.append(f"390 px: {widest['what']} is {widest['width']} px wide; the page scrolls sideways")
    assert not problems, f"{found['url']}:\n" + "\n".join(problems)
    return found


def _write_report() -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    old.update(_checked)
    REPORT.write_text(json.dumps(old, indent=1, sort_keys=True))


TIMEOUT_MS = 10_000  # generous for a loaded CI machine; a passing test never waits this long

expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class PageErrors:
    """Console errors and uncaught exceptions seen by one test's pages."""

    messages: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Expect an error matching `pattern` (e.g. the 404 a test asks for)."""
        self.allowed.append(re.compile(pattern))

    def record_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text} ({message.location.get('url', '')})")

    def record_exception(self, error: Exception) -> None:
        self.messages.append(f"uncaught: {error}")

    def unexpected(self) -> list[str]:
        return [m for m in self.messages if not any(p.search(m) for p in self.allowed)]


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing; install Debian's chromium (scripts/ensure-chromium)."
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def new_page(browser, live_server, transactional_db, page_errors):
    """Open a page in a context of its own: one per person in a test.

    After the test, every kind of page it visited that this run has not
    checked yet is opened again (GET, same person) and checked (`page_check`).
    """
    contexts = []
    visited: dict[tuple[int, str], str] = {}

    def open_page() -> Page:
        # Reduced motion: Bootstrap then drops its colour transitions, so axe never
        # measures a button halfway between two colours.
        context = browser.new_context(base_url=live_server.url, reduced_motion="reduce")
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(_REPORT_CSP_VIOLATIONS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", page_errors.record_console)
        page.on("pageerror", page_errors.record_exception)
        index = len(contexts) - 1

        def remember(frame) -> None:
            if frame == page.main_frame and frame.url.startswith(live_server.url):
                visited.setdefault((index, page_kind(frame.url)), frame.url)

        page.on("framenavigated", remember)
        return page

    yield open_page
    failures = []
    for (index, kind), url in visited.items():
        # A kind first seen as an error page (another practice's 404) is still checked when it loads.
        if "/admin/" in kind or kind.startswith("/static/") or (kind in _checked and "skipped" not in _checked[kind]):
            continue
        checker = contexts[index].new_page()
        response = checker.goto(url)
        if response is None or response.status >= 400 or "application/json" in response.headers.get("content-type", ""):
            _checked[kind] = {"url": kind, "skipped": f"status {response.status if response else '?'}"}
        else:
            try:
                page_check(checker, kind)
            except AssertionError as exc:
                failures.append(str(exc))
        checker.close()
    for context in contexts:
        context.close()
    _write_report()
    unexpected = page_errors.unexpected()
    if unexpected:
        pytest.fail("The browser reported errors:\n" + "\n".join(unexpected), pytrace=False)
    if failures:
        pytest.fail("Accessibility or phone-width problems:\n" + "\n".join(failures), pytrace=False)


@pytest.fixture
def page(new_page) -> Page:
    return new_page()
