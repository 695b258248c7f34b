"""moto in server mode, in-process, with every request executed alone.

Why one request at a time: moto's in-memory backends are not thread-safe. Two DynamoDB
transactions running at once in werkzeug's request threads can interleave inside moto and leave
its tables corrupt (tests/integration/test_stock_race.py shows the same race in-process). Real
DynamoDB executes each request atomically, so serialising requests makes moto *more* faithful, not
less: clients still interleave freely between requests (read, plan, conditional write), which is
the concurrency the service is designed for.

Two consequences of the lock are handled here:

* SQS long polling (``WaitTimeSeconds`` > 0) would hold the lock for up to 20 seconds while moto
  waits for a message that no other request can now send. The middleware runs such a receive as
  a series of short (``WaitTimeSeconds=0``) receives, releasing the lock in between, until a
  message arrives or the wait is over: what the client sees is unchanged.
* The same lock guards the in-process readers of moto's backends (the local mailbox and the SNS
  log in :mod:`infra.local.observers`): :attr:`SerialisedMotoServer.lock`.

And one addition: moto's SES keeps only the HTML part of an e-mail that has both parts, so the
middleware keeps each ``SendEmail``'s text part by message id (:class:`SesTextTap`) for the
local mailbox.

And one moto bug is patched in this process when the server starts
(:func:`keep_streams_across_rollbacks`): a cancelled DynamoDB transaction broke the table's stream
for every reader.
"""

from __future__ import annotations

import functools
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from infra.local.meter import wrap_if_enabled

__all__ = ["SerialisedMotoServer", "SerialisingMiddleware", "SesTextTap", "keep_streams_across_rollbacks"]

WsgiEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[WsgiEnviron, StartResponse], Iterable[bytes]]

_SQS_RECEIVE_TARGET = "AmazonSQS.ReceiveMessage"  # boto3 speaks SQS's JSON protocol
_LONG_POLL_STEP = 0.05  # seconds between the short receives that stand in for one long poll
_SES_SCOPE = "/ses/aws4_request"  # SigV4 credential scope of an SES (v1, query protocol) request
_MESSAGE_ID = re.compile(rb"<MessageId>([^<]+)</MessageId>")
_TAP_LIMIT = 1000  # text parts kept for the mailbox; it collects them within a second


class SesTextTap:
    """Text parts of sent e-mails by SES message id, for the local mailbox (moto keeps only HTML)."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, message_id: str, text: str) -> None:
        with self._lock:
            if len(self._texts) >= _TAP_LIMIT:
                self._texts.pop(next(iter(self._texts)))
            self._texts[message_id] = text

    def pop(self, message_id: str) -> str | None:
        with self._lock:
            return self._texts.pop(message_id, None)


class SerialisingMiddleware:
    """WSGI middleware: runs each request to moto under one lock (see the module docstring)."""

    def __init__(self, app: WsgiApp, lock: threading.RLock, tap: SesTextTap | None = None) -> None:
        self._app = app
        self._lock = lock
        self._tap = tap

    def __call__(self, environ: WsgiEnviron, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") == _SQS_RECEIVE_TARGET:
            status, headers, body = self._receive(environ)
        elif self._tap is not None and _SES_SCOPE in environ.get("HTTP_AUTHORIZATION", ""):
            status, headers, body = self._ses(environ)
        else:
            status, headers, body = self._call(environ)
        start_response(status, headers)
        return [body]

    def _call(self, environ: WsgiEnviron) -> tuple[str, list[tuple[str, str]], bytes]:
        """One request under the lock, its body built completely before the lock is released."""
        captured: dict[str, Any] = {}
        written: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            captured["status"], captured["headers"] = status, headers
            return written.append  # the legacy write() callable

        with self._lock:
            result = self._app(environ, capture)
            try:
                written.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return captured["status"], captured["headers"], b"".join(written)

    def _receive(self, environ: WsgiEnviron) -> tuple[str, list[tuple[str, str]], bytes]:
        raw = _read_body(environ)
        try:
            request = json.loads(raw or b"{}")
            wait = float(request.get("WaitTimeSeconds") or 0)
        except (ValueError, TypeError, AttributeError):
            wait = 0.0  # let moto answer the malformed request itself
        if wait <= 0:
            _set_body(environ, raw)
            return self._call(environ)
        request["WaitTimeSeconds"] = 0
        short = json.dumps(request).encode()
        deadline = time.monotonic() + wait
        while True:
            _set_body(environ, short)
            status, headers, body = self._call(environ)
            if not status.startswith("200") or time.monotonic() >= deadline or _has_messages(body):
                return status, headers, body
            time.sleep(_LONG_POLL_STEP)  # outside the lock: senders get their turn

    def _ses(self, environ: WsgiEnviron) -> tuple[str, list[tuple[str, str]], bytes]:
        raw = _read_body(environ)
        _set_body(environ, raw)
        status, headers, body = self._call(environ)
        if self._tap is not None and status.startswith("200") and raw:
            form = parse_qs(raw.decode("utf-8", "replace"))
            text = form.get("Message.Body.Text.Data")
            found = _MESSAGE_ID.search(body)
            if form.get("Action") == ["SendEmail"] and text and found:
                self._tap.put(found.group(1).decode(), text[0])
        return status, headers, body


def _read_body(environ: WsgiEnviron) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _set_body(environ: WsgiEnviron, body: bytes) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _has_messages(body: bytes) -> bool:
    try:
        return bool(json.loads(body).get("Messages"))
    except (ValueError, AttributeError):
        return True  # not the JSON we expect: hand it to the client rather than loop on it


def keep_streams_across_rollbacks() -> None:
    """Make a cancelled ``TransactWriteItems`` leave the table's stream usable (moto 5.2.5 bug).

    moto rolls a cancelled transaction back by replacing each table with a deep copy taken before
    it, stream included. But every shard iterator handed out so far points at the *old* stream
    object: its readers (the event pump's outbox relay) then see the records of the cancelled
    writes, which never happened, and never see another record, because new writes go to the
    copy. Under concurrent orders (a lost stock race cancels a transaction) the outbox stopped
    and phantom ``order.placed`` events reached the receipt worker.

    The fix keeps the stream object itself: after moto's rollback, each table gets its original
    stream back with the cancelled writes' records cut off, which is what DynamoDB does (a
    cancelled transaction writes nothing, to the table or its stream). Idempotent.
    """
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_keeps_streams", False):
        return

    @functools.wraps(original)
    def transact_write_items(self: Any, *args: Any, **kwargs: Any) -> Any:
        streams = {
            name: (table.stream_shard, len(table.stream_shard.items))
            for name, table in self.tables.items()
            if table.stream_shard is not None
        }
        try:
            return original(self, *args, **kwargs)
        except BaseException:
            for name, (shard, length) in streams.items():
                table = self.tables.get(name)
                if table is not None and table.stream_shard is not shard:
                    del shard.items[length:]
                    shard.table = table  # the restored copy: later records describe it
                    table.stream_shard = shard
            raise

    transact_write_items._keeps_streams = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class _QuietRequestHandler(MotoRequestHandler):
    """moto's handler without werkzeug's access log line per request (the pump polls 20x a second)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SerialisedMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` whose WSGI app is wrapped in :class:`SerialisingMiddleware`.

    ``_server_entry`` mirrors moto 5.2.5's own (the app, werkzeug's threaded server, moto's
    request handler); it also reports a failure to bind instead of leaving ``start()`` waiting.
    """

    def __init__(self, ip_address: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.lock = threading.RLock()
        self.ses_text = SesTextTap()
        self._startup_error: BaseException | None = None

    def _server_entry(self) -> None:
        # The meter (OMS_METER=1, for the benchmark) runs inside the lock: it sizes items around a write.
        backend_app = wrap_if_enabled(DomainDispatcherApplication(create_backend_app))
        app = SerialisingMiddleware(backend_app, self.lock, self.ses_text)
        try:
            self._server = make_server(
                self._ip_address, self._port, app, threaded=True, request_handler=_QuietRequestHandler
            )
        except BaseException as error:  # e.g. the port is taken: start() re-raises it
            self._startup_error = error
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever()

    def start(self) -> None:
        keep_streams_across_rollbacks()
        super().start()
        if self._startup_error is not None:
            error, self._startup_error = self._startup_error, None
            self._thread = None
            raise error

    def stop(self) -> None:
        if self._thread is None:
            return
        super().stop()
        if self._server is not None:
            self._server.server_close()
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"
