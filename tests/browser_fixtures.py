"""Browser tests: real headless Chromium (Playwright, sync API) against `live_server`.

One browser per session; every test gets a fresh context, so no cookies or
storage leak between tests. Every page records console errors (which is
where Chromium reports CSP violations and htmx reports failed requests) and
uncaught exceptions; a test that leaves any behind fails at teardown.
"""

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
    """Open a page in a context of its own: one per person in a test."""
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(_REPORT_CSP_VIOLATIONS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", page_errors.record_console)
        page.on("pageerror", page_errors.record_exception)
        return page

    yield open_page
    for context in contexts:
        context.close()
    unexpected = page_errors.unexpected()
    if unexpected:
        pytest.fail("The browser reported errors:\n" + "\n".join(unexpected), pytrace=False)


@pytest.fixture
def page(new_page) -> Page:
    return new_page()
