"""Running the simulator: in a background thread (`run_simulator`) or the foreground (`serve`)."""

import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from types import FrameType
from zoneinfo import ZoneInfo

import uvicorn

from smspresto_pipeline.simulator.app import RequestRecord, SendRecord, SimulatorApp
from smspresto_pipeline.simulator.config import Fault, Outage, SimulatorConfig
from smspresto_pipeline.simulator.store import Store

__all__ = ["RunningSimulator", "free_port", "open_store", "run_simulator", "serve"]

_STARTUP_TIMEOUT = 15.0
_DEFAULT_HISTORY_DAYS = 30


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (prefer ``port=0`` where you can)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def open_store(config: SimulatorConfig) -> Store:
    """Open the state at ``config.db_path``, seeding the account and history if it is new."""
    store = Store(config.db_path)
    if store.is_seeded():
        return store
    now = config.clock or datetime.now(ZoneInfo(config.timezone)).replace(
        tzinfo=None, microsecond=0
    )
    # On a simulated clock, its day is seeded too: its rows appear as the clock passes them.
    end = config.history_end or (now.date() - timedelta(days=0 if config.clock else 1))
    start = config.history_start or (end - timedelta(days=_DEFAULT_HISTORY_DAYS - 1))
    if end > now.date():
        # Ids follow creation time (the archive's order relies on it): no future history.
        store.close()
        raise ValueError(f"history_end {end} is after today ({now.date()}, {config.timezone})")
    try:
        store.seed(
            seed=config.seed,
            start=start,
            end=end,
            messages_per_day=config.messages_per_day,
            recipient_pool=config.recipient_pool,
            failure_rate=config.failure_rate,
            spikes=config.spikes,
            spike_period=config.spike_period,
            initial_stock=config.initial_stock,
            created_at=now,
            upcoming_after=config.clock,
        )
    except BaseException:
        store.close()
        raise
    return store


class RunningSimulator:
    """A simulator serving in a background thread; what `run_simulator` yields.

    Example:
        >>> cfg = SimulatorConfig(db_path=tmp / "sim.sqlite3")
        >>> with run_simulator(cfg) as sim:  # doctest: +SKIP
        ...     httpx.post(sim.base_url, data={"action": "get-stock", "user": sim.api_key,
        ...                                    "pass": sim.api_pass}).text
        '100000'
    """

    def __init__(self, config: SimulatorConfig, store: Store, app: SimulatorApp, port: int) -> None:
        self.config = config
        self.port = port
        self.base_url = f"http://{config.host}:{port}/console/api/"
        self.api_key = config.api_key
        self._store = store
        self._app = app

    def __repr__(self) -> str:
        return f"RunningSimulator(base_url={self.base_url!r})"

    @property
    def api_pass(self) -> str:
        """The password the simulator accepts."""
        return self.config.api_pass

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far: ``(action, method)``, in order (a copy)."""
        return self._app.requests

    @property
    def sends(self) -> list[SendRecord]:
        """Every accepted ``sendsms`` so far: ``(sender, [(recipient, message), ...])``."""
        return self._app.sends

    def add_fault(self, fault: Fault) -> None:
        """Arm ``fault``; it fires for its next ``count`` matching requests."""
        self._app.add_fault(fault)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._app.clear_faults()

    @property
    def now(self) -> datetime:
        """The simulator's time (the account's local time, naive): its clock, or real time."""
        return self._app.now()

    def set_now(self, at: datetime) -> int:
        """Move the simulated clock forward to ``at``; the seeded rows created by then appear
        (their count is returned). Only with ``SimulatorConfig.clock``."""
        return self._app.set_now(at)

    def advance(self, delta: timedelta) -> int:
        """Move the simulated clock forward by ``delta`` (see `set_now`)."""
        return self._app.set_now(self._app.now() + delta)

    def add_outage(self, outage: Outage) -> None:
        """Arm ``outage``: live sends to its carrier's numbers fail at its rate from its start
        (default: the simulator's now)."""
        self._app.add_outage(outage)

    def clear_outages(self) -> None:
        """Disarm every outage."""
        self._app.clear_outages()

    def message_count(self, date_from: date | None = None, date_to: date | None = None) -> int:
        """Rows in the archive created between the two days, inclusive (``None``: open)."""
        return self._store.count(
            date_from.isoformat() if date_from else None, date_to.isoformat() if date_to else None
        )

    def set_status(self, history_id: int, status: str) -> None:
        """Set a message's ``HIS_STATUT`` now, as a late delivery report would."""
        self._store.set_status(history_id, status)

    def counters(self) -> dict[str, int]:
        """The ten account counters, named like `AccountCounters`' fields."""
        account = self._store.account()
        sent, success, failed = self._store.delivery_counters(self._app.epoch())
        return {
            "stock": account.stock,
            "sent": sent,
            "success": success,
            "failed": failed,
            "contacts": account.contacts,
            "groups": account.groups,
            "orders": account.orders,
            "bills": account.bills,
            "scheduled": account.scheduled,
            "predefined": account.predefined,
        }

    def spike_days(self) -> list[date]:
        """The seeded days planned as failure spikes: the periodic ones (30-40 % failed) and
        the days of `SimulatorConfig.spikes`."""
        return self._store.spike_days()


class _BackgroundServer(uvicorn.Server):
    """A uvicorn server that stops as soon as it is asked (uvicorn polls every 0.1 s).

    Tests start and stop a simulator each: the poll would cost most of their teardown.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        """Wait for `stop`, ticking once a second (which refreshes the ``Date`` header)."""
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864_000  # uvicorn's tick count: 10 a second
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)

    def stop(self) -> None:
        """Ask the server to stop, from any thread."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(wake.set)


@contextlib.contextmanager
def run_simulator(config: SimulatorConfig) -> Iterator[RunningSimulator]:
    """Serve the simulator in a background thread for the duration of the block.

    Seeds ``config.db_path`` if it is new, returns once the server accepts connections, and
    stops it (and closes the state) on exit.
    """
    store = open_store(config)
    app = SimulatorApp(config, store)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        port = int(sock.getsockname()[1])
        server = _BackgroundServer(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                proxy_headers=False,
                timeout_graceful_shutdown=1,
                timeout_keep_alive=30,
            )
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="smspresto-simulator", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"the simulator did not start on {config.host}:{port}")
            time.sleep(0.01)
        try:
            yield RunningSimulator(config, store, app, port)
        finally:
            app.close()
            server.stop()
            thread.join(timeout=5)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout=5)
    finally:
        sock.close()
        store.close()


def serve(
    config: SimulatorConfig, *, on_ready: Callable[[RunningSimulator], None] | None = None
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C or SIGTERM).

    ``on_ready`` is called once the server accepts connections, e.g. to print ``base_url``.
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Signal handlers can only be set from the main thread; elsewhere only `stop` ends it.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, request_stop) if in_main else None
    try:
        with run_simulator(config) as sim:
            if on_ready is not None:
                on_ready(sim)
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.wait(0.5):
                    pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
