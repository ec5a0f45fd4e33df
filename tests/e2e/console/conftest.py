"""One harness for the console's browser tests: Debian's Chromium driven by Playwright
against the real stack (one stack per module, SQLite; one browser per session).

`console(person, language, viewport)` gives a page signed in as a demo person; when a test
fails, a screenshot of every page it opened is saved under test-artifacts/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningStack

CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}
LANGUAGES = ("es", "en")
LOCALES = {"es": "es-MX", "en": "en-US"}
# Every flow runs in each language at each width.
MODES = [(language, viewport) for language in LANGUAGES for viewport in VIEWPORTS]
# Short, so that the focal point pages show a silent country escalated within a test.
ALERT_ACK_TIMEOUT_SECONDS = 10

if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it",
                allow_module_level=True)

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One stack for every console test, on SQLite only: the pages sit on the same service
    layer the other e2e tests run on both backends."""
    running = RunningStack(tmp_path_factory.mktemp("stack-console"), [], env={
        "ENLACE_ALERT_ACK_TIMEOUT_SECONDS": str(ALERT_ACK_TIMEOUT_SECONDS)})
    try:
        yield running
    finally:
        running.stop()


# Package, not session: Playwright's sync API keeps an event loop running in the thread
# while it is open, which the asyncio tests of other folders cannot share.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


def person(stack: RunningStack, country: str, institution: str,
           role: str = "caseworker") -> dict[str, str]:
    return dict(stack.info["gateways"][country]["institutions"][institution]["people"][role])


def console_url(stack: RunningStack, country: str) -> str:
    return f"{stack.info['gateways'][country]['url']}/console"


def registry_console_url(stack: RunningStack) -> str:
    return f"{stack.info['registry']['url']}/console"


class Browsing:
    """Opens pages of any console (signed in or not), watching for CSP violations."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.pages: list[Page] = []
        self.csp_violations: list[str] = []

    def _open_at(self, console: str, language: str, viewport: str) -> Page:
        context = self.browser.new_context(locale=LOCALES[language],
                                           viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.on("console", self._watch)
        self.pages.append(page)
        page.goto(f"{console}/sign-in")
        return page

    @staticmethod
    def _sign_in(page: Page, who: dict[str, str], landing: str) -> Page:
        page.locator("#username").fill(who["username"])
        page.locator("#password").fill(who["password"])
        page.locator("main button[type=submit]").click()
        page.wait_for_url(re.compile(landing))
        return page

    def signed_in_at(self, console: str, who: dict[str, str], language: str, viewport: str,
                     landing: str) -> Page:
        """Signed in at the console whose URL is `console` (ending in /console)."""
        return self._sign_in(self._open_at(console, language, viewport), who, landing)

    def _watch(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.csp_violations.append(message.text)

    def save_screenshots(self, name: str) -> None:
        folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        folder.mkdir(parents=True, exist_ok=True)
        for n, page in enumerate(self.pages):
            if not page.is_closed():
                page.screenshot(path=str(folder / f"page-{n}.png"), full_page=True)

    def close(self) -> None:
        for page in self.pages:
            page.context.close()


class Console(Browsing):
    """The demo people's pages on the real stack."""

    def __init__(self, stack: RunningStack, browser: Browser) -> None:
        super().__init__(browser)
        self.stack = stack

    def open(self, country: str, language: str, viewport: str) -> Page:
        return self._open_at(console_url(self.stack, country), language, viewport)

    def signed_in(self, country: str, institution: str, language: str, viewport: str,
                  role: str = "caseworker") -> Page:
        return self._sign_in(self.open(country, language, viewport),
                             person(self.stack, country, institution, role),
                             r".*/console/(referrals|account|directory|agreements).*")

    def signed_in_at_registry(self, language: str, viewport: str,
                              role: str = "auditor") -> Page:
        """A person of the secretariat (`regional_admin`, `auditor`), at the registry."""
        return self._sign_in(
            self._open_at(registry_console_url(self.stack), language, viewport),
            self.stack.info["registry"]["people"][role], r".*/console/audit$")


def _watched(harness: Browsing, request: pytest.FixtureRequest) -> Iterator[Any]:
    yield harness
    if request.node.stash.get(FAILED, False):
        harness.save_screenshots(request.node.nodeid)
    harness.close()
    assert not harness.csp_violations, harness.csp_violations


@pytest.fixture
def console(stack: RunningStack, browser: Browser,
            request: pytest.FixtureRequest) -> Iterator[Console]:
    yield from _watched(Console(stack, browser), request)


@pytest.fixture
def browsing(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    """A browser on consoles served in this process (no stack started)."""
    yield from _watched(Browsing(browser), request)


_axe = Axe()


def check_page(page: Page) -> None:
    """No serious or critical axe-core violation, and nothing wider than the screen."""
    results = _axe.run(page)
    bad = [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"accessibility violations on {page.url}: {bad}"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


Checker = Callable[[Page], None]
