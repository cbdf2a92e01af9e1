"""Screenshots of the Dagster UI for the README, taken once each page has really loaded.

Run by scripts/screenshots.sh, which starts the webserver on the demo's instance; by hand:

    .venv/bin/python scripts/screenshots.py --base-url http://127.0.0.1:3000 --out docs/images

The UI is a single-page app: its HTML arrives at once and its data later, over GraphQL and a
websocket, so `chromium --screenshot` (even with a virtual time budget) captures spinners or a
half-drawn page. This drives headless Chromium over the DevTools protocol instead, through
`--remote-debugging-pipe` (commands on file descriptor 3, answers on 4, each JSON message ended
by a NUL byte): no port to pick, no websocket client, only the standard library. A page is
captured once every text it must show is there, no spinner or skeleton is left, and two
screenshots taken half a second apart are identical (charts have finished animating).
"""

import argparse
import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARCHIVE = "archive_messages"
INGEST_JOB = "archive_messages_ingest_job"
SPIKE_CHECK = "failure_rate_spike"
BREAKER = "smspresto_circuit_breaker"
ALERTS_SENSOR_PATH = "/locations/dagster_project/sensors/smspresto_alerts"
MAX_PNG_BYTES = 400_000  # the README loads every image at once

# What looked wrong on the way (each is also printed at once): any makes the exit status 1,
# the images are written all the same so that they can be looked at.
_problems: list[str] = []


def warn(message: str) -> None:
    """Reports something that may make an image wrong."""
    _problems.append(message)
    print(f"warning: {message}", file=sys.stderr)


# Run once in every page before the app: mark the "Join the Dagster community" dialog as
# dismissed, as its Skip button would (in this browser's storage only: nothing is written to the
# instance).
_BEFORE_APP_JS = "localStorage.setItem('communityNux', '1');"

# What the page shows now: whether something is still loading, and what is odd.
_PAGE_STATE_JS = """
((selector) => {
  const visible = (el) => el.getClientRects().length > 0;
  const busy = [...document.querySelectorAll(
    '.spinnerGlobal:not([class*="Spinner_stopped"]):not([aria-valuenow]),'
    + ' [class*="Skeleton_animated"], [class*="RunRowSkeleton"]')].filter(visible);
  const text = document.body ? document.body.innerText : '';
  return {
    ready: document.readyState === 'complete',
    busy: busy.length,
    loading: /\\bLoading\\b/.test(text),
    text: text,
    selector: !selector || document.querySelector(selector) !== null,
    dialogs: [...document.querySelectorAll('[role="dialog"]')].filter(visible)
      .map((el) => el.innerText.slice(0, 200)),
    toasts: [...document.querySelectorAll('[data-sonner-toast]')].filter(visible)
      .map((el) => el.innerText.slice(0, 200)),
  };
})
"""


@dataclass(frozen=True)
class Shot:
    """One screenshot: a page of the UI and how to tell that it has loaded."""

    name: str
    """The PNG's file name, without ``.png``."""
    path: str
    """The page's path in the UI."""
    expect: tuple[str, ...]
    """Texts that are all on the page once its data has arrived."""
    click: str | None = None
    """The text of a button to press once the page has loaded (the UI keeps some views, such as
    the metadata plots, in component state rather than in the URL)."""
    after_click: str | None = None
    """A CSS selector that matches once the click has had its effect."""
    scroll_to: str | None = None
    """A heading to scroll to the top of the view before the capture."""
    height: int | None = None
    """The view's height for this page, when not the default (to end the image on a row)."""
    then_click: tuple[str, ...] = ()
    """Texts of elements (tabs, list rows: any element whose own text it is) to press in turn
    after ``click``, each once the page has settled."""
    expect_after: tuple[str, ...] = ()
    """Texts that are all on the page once the clicks have had their effect."""
    dialog: bool = False
    """Whether the clicks open a dialog that the image is of (else an open dialog is odd)."""


def graphql(
    base_url: str, query: str, variables: dict[str, Any] | None = None, timeout: float = 30.0
) -> dict[str, Any]:
    """Posts one query to the webserver's GraphQL endpoint and returns its ``data``."""
    request = urllib.request.Request(  # noqa: S310 - the URL is the webserver we started
        f"{base_url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        body: dict[str, Any] = json.load(answer)
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


def _newest_run(base_url: str, run_filter: dict[str, Any]) -> dict[str, Any] | None:
    data = graphql(
        base_url,
        "query ($filter: RunsFilter) { runsOrError(filter: $filter, limit: 1) { __typename"
        " ... on Runs { results { runId jobName status } } ... on PythonError { message } } }",
        {"filter": run_filter},
    )
    runs = data["runsOrError"]
    if runs["__typename"] != "Runs":
        raise RuntimeError(f"runsOrError: {runs.get('message', runs['__typename'])}")
    return runs["results"][0] if runs["results"] else None


def _asset(base_url: str, asset: str, fields: str) -> dict[str, Any]:
    """The ``fields`` of ``asset`` (empty when the instance does not know it)."""
    data = graphql(
        base_url,
        "query ($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename"
        f" ... on Asset {{ {fields} }} }} }}",
        {"key": {"path": [asset]}},
    )
    found: dict[str, Any] = data["assetOrError"]
    return found


def latest_run(base_url: str, job: str, asset: str) -> dict[str, Any] | None:
    """The newest run of ``job``; else the run of ``asset``'s newest materialization (how runs
    that are not tied to ``job`` still show it); else the newest run; else None.

    Returns:
        The run's ``runId``, ``jobName`` and ``status``.
    """
    run = _newest_run(base_url, {"pipelineName": job})
    if run is not None:
        return run
    events = _asset(base_url, asset, "assetMaterializations(limit: 1) { runId }").get(
        "assetMaterializations"
    )
    if events:
        run = _newest_run(base_url, {"runIds": [events[0]["runId"]]})
        if run is not None:
            return run
    return _newest_run(base_url, {})


def worst_partition(base_url: str, asset: str) -> str | None:
    """The partition of ``asset`` whose latest materialization has the highest ``failure_rate``
    (the day worth a look), or None when no materialization has one."""
    events = _asset(
        base_url,
        asset,
        "assetMaterializations(limit: 1000) { partition metadataEntries { label"
        " ... on FloatMetadataEntry { floatValue } } }",
    ).get("assetMaterializations", [])
    rates: dict[str, float] = {}
    for event in events:
        for entry in event["metadataEntries"]:
            # Newest first: the first rate met for a partition is its current one.
            if entry["label"] == "failure_rate" and entry.get("floatValue") is not None:
                rates.setdefault(event["partition"], entry["floatValue"])
    return max(rates, key=lambda key: rates[key]) if rates else None


def failed_check_partition(base_url: str, asset: str, check: str) -> str | None:
    """The partition of ``asset`` whose newest evaluation of ``check`` failed at ERROR (the
    newest such partition), or None when no evaluation failed."""
    data = graphql(
        base_url,
        "query ($key: AssetKeyInput!, $check: String!) { assetCheckExecutions(assetKey: $key,"
        " checkName: $check, limit: 1000) { partition evaluation { success severity } } }",
        {"key": {"path": [asset]}, "check": check},
    )
    latest: dict[str, dict[str, Any]] = {}
    for execution in data["assetCheckExecutions"]:  # newest first
        if execution["partition"] and execution["evaluation"]:
            latest.setdefault(execution["partition"], execution["evaluation"])
    failed = [
        partition
        for partition, evaluation in latest.items()
        if not evaluation["success"] and evaluation["severity"] == "ERROR"
    ]
    return max(failed) if failed else None


def build_shots(base_url: str) -> list[Shot]:
    """The README's screenshots, in the order it shows them."""
    partition = worst_partition(base_url, ARCHIVE)
    if partition is None:
        warn(f"no partition of {ARCHIVE} has a failure_rate")
    shots = [
        Shot(
            name="asset-graph",
            path="/asset-groups",
            expect=(
                "archive_messages",
                "archive_messages_today",
                "account_snapshot",
                "analytics_views",
                "failed_reminder",
                "daily_summary",
                "30 partitions",
            ),
            height=720,  # the assets and the campaigns fit; the graph's zoom stops at 100 %
        ),
        Shot(
            name="archive-messages-partitions",
            path="/assets/archive_messages?view=partitions"
            + (f"&{urllib.parse.urlencode({'partition': partition})}" if partition else ""),
            # With no partition in the URL none is selected and the page shows no metadata.
            expect=("Materialized (", *((partition, "failure_rate") if partition else ())),
        ),
        Shot(
            name="archive-messages-failure-rate",
            path="/assets/archive_messages?view=overview",
            expect=("Metadata", "failure_rate", "Plots"),
            click="Plots",
            after_click="canvas",  # the plots are drawn on canvases, the table has none
            scroll_to="Metadata",
            height=715,  # two rows of plots: row count, delivered, failed, failure_rate
        ),
    ]
    spike = failed_check_partition(base_url, ARCHIVE, SPIKE_CHECK)
    if spike is None:
        warn(f"no partition of {ARCHIVE} failed {SPIKE_CHECK} at ERROR: no spike check captured")
    else:
        # The check's Partitions tab, filtered to its failed days, the spike's day selected:
        # the status bar (the red day), and the evaluation's metadata (reason, rates, band).
        shots.append(
            Shot(
                name="failure-spike-check",
                path=f"/assets/{ARCHIVE}?"
                + urllib.parse.urlencode(
                    {"view": "checks", "checkDetail": SPIKE_CHECK, "status": "FAILED"}
                ),
                expect=(SPIKE_CHECK, "Partitions"),
                then_click=("Partitions", spike),
                expect_after=("carrier:MTN", "failures jumped from", "recent_days"),
                height=1000,
            )
        )
    if not _asset(base_url, BREAKER, "assetObservations(limit: 1) { timestamp }").get(
        "assetObservations"
    ):
        warn(f"{BREAKER} has no observation: the alerting sensor never ticked (run the demo)")
    else:
        shots += [
            # The breaker's state at a glance: its latest observation's metadata, which the
            # alerting sensor records each time the state changes.
            Shot(
                name="circuit-breaker-paused",
                path=f"/assets/{BREAKER}",
                expect=("Metadata", "paused", "reason", "since", "active_trips"),
                scroll_to="Metadata",
            ),
            # The alerting sensor's tick that told the trip: its message, opened from the
            # list of ticks.
            Shot(
                name="alerts-sensor-tick",
                path=ALERTS_SENSOR_PATH,
                expect=("View logs", "0 runs requested"),
                # The first button so named is the newest tick's (the table lists newest first).
                click="0 runs requested",
                after_click='[role="dialog"]',
                expect_after=("Skip reason", "breaker-trip", "alert told"),
                dialog=True,
                height=300,  # the dialog's message; the rest of it is blank
            ),
        ]
    run = latest_run(base_url, INGEST_JOB, ARCHIVE)
    if run is None:
        warn("the instance has no run: no run page captured")
        return shots
    if run["jobName"] != INGEST_JOB:
        print(f"note: no run of {INGEST_JOB}; showing one of {run['jobName']}", file=sys.stderr)
    # The event log is drawn last; a finished run's ends with its outcome.
    outcome = {"SUCCESS": "RUN_SUCCESS", "FAILURE": "RUN_FAILURE", "CANCELED": "RUN_CANCELED"}
    shots.append(
        Shot(
            name="ingest-run",
            path=f"/runs/{run['runId']}",
            expect=(run["runId"][:8], outcome.get(run["status"], "")),
        )
    )
    return shots


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe."""

    def __init__(self, chromium: str) -> None:
        self._profile = tempfile.mkdtemp(prefix="screenshots-chromium-")
        # The pipe ends Chromium gets are first moved to 10 and up, so that mapping them onto
        # 3 and 4 in the child cannot overwrite one with the other.
        to_chrome, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome = os.pipe()
        child_in = fcntl.fcntl(to_chrome, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_chrome, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome)
        os.close(from_chrome)
        args = [
            chromium,
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile}",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to start as root with its sandbox

        def map_pipes() -> None:
            os.dup2(child_in, 3)  # dup2's copies are inheritable
            os.dup2(child_out, 4)

        # close_fds=False keeps 3 and 4 open (subprocess would close them after map_pipes runs);
        # Python opens every other descriptor close-on-exec, so nothing else leaks to Chromium.
        self._process = subprocess.Popen(  # noqa: S603 - a fixed argument list
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=map_pipes,  # safe: this process runs no other thread
            close_fds=False,
        )
        os.close(child_in)
        os.close(child_out)
        self._buffer = b""
        self._last_id = 0

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Sends one command and returns its result; events met on the way are dropped."""
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._last_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result

    def evaluate(self, session: str, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"JavaScript failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (did it crash?)")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def close(self) -> None:
        """Stops Chromium and removes its profile."""
        with contextlib.suppress(RuntimeError, OSError):  # it may be gone already
            self.call("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        shutil.rmtree(self._profile, ignore_errors=True)


class Page:
    """One tab of the browser, sized to the screenshots."""

    def __init__(self, browser: Browser, width: int, height: int) -> None:
        self._browser = browser
        self._target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = browser.call("Target.attachToTarget", targetId=self._target, flatten=True)[
            "sessionId"
        ]
        browser.call("Page.enable", self._session)
        browser.call("Page.addScriptToEvaluateOnNewDocument", self._session, source=_BEFORE_APP_JS)
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            self._session,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def open(self, url: str) -> None:
        """Navigates to ``url`` (returns before the page has loaded)."""
        self._browser.call("Page.navigate", self._session, url=url)

    def state(self, selector: str | None = None) -> dict[str, Any]:
        """What the page shows now (see ``_PAGE_STATE_JS``)."""
        state: dict[str, Any] = self._browser.evaluate(
            self._session, f"{_PAGE_STATE_JS}({json.dumps(selector)})"
        )
        return state

    def wait_loaded(
        self, deadline: float, expect: tuple[str, ...] = (), selector: str | None = None
    ) -> None:
        """Waits until the page shows every text in ``expect``, has an element matching
        ``selector`` (when given), and nothing is loading; warns at the deadline."""
        while True:
            state = self.state(selector)
            missing = [text for text in expect if text not in state["text"]]
            if selector is not None and not state["selector"]:
                missing.append(selector)
            if state["ready"] and not state["busy"] and not state["loading"] and not missing:
                return
            if time.monotonic() > deadline:
                warn(
                    f"still loading at the deadline (spinners: {state['busy']}, "
                    f"'Loading' shown: {state['loading']}, missing: {missing})"
                )
                return
            time.sleep(0.25)

    def click(self, text: str) -> bool:
        """Presses the first button whose text is ``text``; False if there is none."""
        found = self._browser.evaluate(
            self._session,
            "(() => { const b = [...document.querySelectorAll('button')]"
            f".find((b) => b.innerText.trim() === {json.dumps(text)});"
            " if (b) { b.click(); } return !!b; })()",
        )
        return bool(found)

    def click_text(self, text: str) -> bool:
        """Presses the last tab, button or leaf element whose text is ``text`` (the innermost
        view's: a page's own tabs come before those of the panel it shows); False if none."""
        found = self._browser.evaluate(
            self._session,
            "(() => { const el = [...document.querySelectorAll("
            "'[role=\"tab\"], button, a, div, span, td')]"
            ".filter((e) => e.getClientRects().length > 0)"
            f".filter((e) => e.innerText && e.innerText.trim() === {json.dumps(text)}"
            " && (e.children.length === 0 || e.matches('[role=\"tab\"], button'))).pop();"
            " if (el) { el.click(); } return !!el; })()",
        )
        return bool(found)

    def scroll_to(self, text: str) -> bool:
        """Scrolls the first heading-like element whose whole text is ``text`` to the top; False
        if there is none."""
        found = self._browser.evaluate(
            self._session,
            "(() => { const el = [...document.querySelectorAll('div, span, h1, h2, h3, h4')]"
            f".find((e) => e.children.length === 0 && e.innerText.trim() === {json.dumps(text)});"
            " if (el) { el.scrollIntoView({block: 'start'}); } return !!el; })()",
        )
        return bool(found)

    def screenshot_when_still(self, deadline: float) -> bytes:
        """A PNG of the view, once two captures half a second apart are identical."""
        previous = b""
        while True:
            shot = base64.b64decode(
                self._browser.call("Page.captureScreenshot", self._session, format="png")["data"]
            )
            if shot == previous:
                return shot
            if time.monotonic() > deadline:
                warn("the page was still changing at the deadline")
                return shot
            previous = shot
            time.sleep(0.5)

    def close(self) -> None:
        """Closes the tab."""
        self._browser.call("Target.closeTarget", targetId=self._target)


def capture(page: Page, base_url: str, shot: Shot, out: Path, timeout: float) -> None:
    """Loads ``shot``'s page, readies it and writes its PNG to ``out``."""
    deadline = time.monotonic() + timeout
    page.open(base_url + shot.path)
    page.wait_loaded(deadline, expect=shot.expect)
    if shot.click is not None:
        if page.click(shot.click):
            page.wait_loaded(deadline, selector=shot.after_click)
        else:
            warn(f"{shot.name}: no button {shot.click!r} to press")
    for text in shot.then_click:
        if page.click_text(text):
            page.wait_loaded(deadline)
        else:
            warn(f"{shot.name}: nothing reading {text!r} to press")
    if shot.expect_after:
        page.wait_loaded(deadline, expect=shot.expect_after)
    if shot.scroll_to is not None and not page.scroll_to(shot.scroll_to):
        warn(f"{shot.name}: no {shot.scroll_to!r} to scroll to")
    png = page.screenshot_when_still(deadline)
    state = page.state()
    if shot.dialog and not state["dialogs"]:
        warn(f"{shot.name}: no dialog is open")
    for dialog in [] if shot.dialog else state["dialogs"]:
        warn(f"{shot.name}: a dialog is open: {dialog!r}")
    for toast in state["toasts"]:
        warn(f"{shot.name}: a toast is shown: {toast!r}")
    if len(png) > MAX_PNG_BYTES:
        warn(f"{shot.name}: {len(png) // 1024} KB, over {MAX_PNG_BYTES // 1000} KB")
    out.write_bytes(png)
    print(f"{out} ({len(png) // 1024} KB): {shot.path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="the Dagster UI's address")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write PNGs into")
    parser.add_argument("--chromium", default="chromium", help="the Chromium to drive")
    parser.add_argument("--width", type=int, default=1440, help="the view's width in pixels")
    parser.add_argument(
        "--height", type=int, default=900, help="the view's height (some pages set their own)"
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per page at most")
    parser.add_argument("--only", nargs="*", metavar="NAME", help="take only these screenshots")
    args = parser.parse_args()
    base_url = args.base_url.rstrip("/")
    shots = [s for s in build_shots(base_url) if not args.only or s.name in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    browser = Browser(args.chromium)
    try:
        for shot in shots:
            page = Page(browser, args.width, shot.height or args.height)
            try:
                capture(page, base_url, shot, args.out / f"{shot.name}.png", args.timeout)
            finally:
                page.close()
    finally:
        browser.close()
    if _problems:
        print(
            f"{len(_problems)} problem(s): look at the images before committing them.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
