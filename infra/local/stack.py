"""The whole service on one machine: moto, the infra stack, demo data, the API and the event pump.

:class:`LocalStack` is the one implementation behind ``make run`` (``python -m infra.local``) and
anything else that wants the service running locally. Its pieces and their AWS counterparts
(docs/local-stack.md has the full story):

============================  =====================================================
local                         AWS
============================  =====================================================
moto server (127.0.0.1)       DynamoDB, Streams, EventBridge, SQS, SNS, SES, SSM,
                              CloudFormation
chalice's local HTTP server   API Gateway + the API Lambda
:class:`~infra.local.pump.    Lambda event source mappings (SQS, DynamoDB Streams)
EventPump`                    and EventBridge schedules
``<state>/outbox/*.eml``      SES delivering the e-mail
``oms.local.sns`` log lines   whoever subscribes to the warehouse/operations topics
============================  =====================================================

It configures *this process* the way Lambda configures a function: ``os.environ`` gets the AWS
endpoint, fake credentials and the app's settings, and the app is imported only after that,
because the app's event decorators read queue names at import time. So a process runs at most one
LocalStack, started before anything imports ``app``; code that must not share a process with it
(the e2e tests, which run next to ``mock_aws`` integration tests) runs ``python -m infra.local``
as a subprocess instead.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from infra.local.faults import FaultInjector, FaultSettings
from infra.local.moto_server import SerialisedMotoServer
from infra.local.state import CONFIG_NAME, OUTBOX_NAME, state_dir, write_local_config

__all__ = ["LOOPBACK", "LocalOptions", "LocalStack", "LocalStackError"]

logger = logging.getLogger("oms.local")

LOOPBACK = "127.0.0.1"  # every local server listens on loopback only
REPO_ROOT = Path(__file__).resolve().parents[2]
#: A Chalice stage with no entry in .chalice/config.json, so that loading the app applies no
#: stage environment over the one taken from the stack (the same trick as tests/integration).
CHALICE_STAGE = "local"
#: The account moto serves when a request carries no other (moto.core.DEFAULT_ACCOUNT_ID).
ACCOUNT_ID = "123456789012"
FAKE_CREDENTIAL = "testing"

ENV_AWS_PORT = "OMS_AWS_PORT"
ENV_API_PORT = "OMS_API_PORT"
ENV_CLOCK_SPEED = "OMS_CLOCK_SPEED"
ENV_VISIBILITY_TIMEOUT = "OMS_VISIBILITY_TIMEOUT"
ENV_SENDER = "OMS_SENDER_EMAIL"
ENV_PUBLIC_BASE_URL = "OMS_PUBLIC_BASE_URL"
ENV_ALLOW_LOOPBACK_WEBHOOKS = "OMS_ALLOW_LOOPBACK_WEBHOOKS"

#: Clients the app creates lazily; created once before the API serves concurrent requests,
#: because creating boto3 clients from the default session is not thread-safe.
_WARM_CLIENTS = ("dynamodb", "events", "ses", "sns", "sqs", "ssm")


class LocalStackError(RuntimeError):
    """The local stack could not start (the message says what to change)."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise LocalStackError(f"{name}={raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise LocalStackError(f"{name}={port} is not a port number (0 picks a free port)")
    return port


def _positive(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise LocalStackError(f"{name}={raw!r} is not a number") from None
    if value <= 0 and name == ENV_CLOCK_SPEED:
        raise LocalStackError(f"{name} must be above 0 (1 is real time, 60 makes a minute pass each second)")
    if value < 0:
        raise LocalStackError(f"{name} must not be negative")
    return value


@dataclass(frozen=True)
class LocalOptions:
    """How to run the stack. ``from_env`` reads the ``OMS_*`` variables ``make run`` documents."""

    aws_port: int = 4566  # moto; 0 picks a free port
    api_port: int = 8000  # the API; 0 picks a free port
    clock_speed: float = 1.0  # schedules run this many times faster than real time
    state_dir: Path = Path(".oms")  # local.json and outbox/
    visibility_timeout: float | None = None  # seconds a failed message stays invisible (queue's own if None)
    region: str = "us-east-1"
    stage: str = "local"
    sender_email: str = "orders@shop.example"
    project_dir: Path = REPO_ROOT
    # OMS_FAULT_RATE, OMS_DUPLICATE_RATE, OMS_FAULT_SEED (infra/local/faults.py); off by default.
    faults: FaultSettings = field(default_factory=FaultSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalOptions:
        env = os.environ if env is None else env
        clock_speed = _positive(env, ENV_CLOCK_SPEED, 1.0)
        assert clock_speed is not None
        try:
            faults = FaultSettings.from_env(env)
        except ValueError as error:
            raise LocalStackError(str(error)) from None
        return cls(
            aws_port=_port(env, ENV_AWS_PORT, cls.aws_port),
            api_port=_port(env, ENV_API_PORT, cls.api_port),
            clock_speed=clock_speed,
            state_dir=state_dir(env),
            visibility_timeout=_positive(env, ENV_VISIBILITY_TIMEOUT, None),
            sender_email=env.get(ENV_SENDER) or cls.sender_email,
            faults=faults,
        )


@dataclass
class _Running:
    """What start() has brought up so far; stop() takes down exactly this, in reverse."""

    moto: SerialisedMotoServer | None = None
    http_server: Any = None  # chalice.local.LocalDevServer
    http_thread: threading.Thread | None = None
    pump: Any = None  # infra.local.pump.EventPump
    faults: FaultInjector | None = None
    observer: Any = None  # infra.local.observers.BackendObserver
    config_path: Path | None = None
    env_before: dict[str, str | None] = field(default_factory=dict)


class LocalStack:
    """Starts and stops the local service; see the module docstring.

    ``start()`` returns when the API answers and the pump runs; afterwards :attr:`api_url`,
    :attr:`endpoint_url`, :attr:`config` (what ``local.json`` holds) and :attr:`config_path` tell
    where everything is. ``stop()`` (or leaving the ``with`` block) takes it all down again and
    restores the environment variables it set.
    """

    def __init__(self, options: LocalOptions | None = None) -> None:
        self.options = options or LocalOptions()
        self._running = _Running()
        self._config: dict[str, Any] | None = None
        self._api_url: str | None = None
        self.startup_seconds: float | None = None

    # -- public API ------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        if self._api_url is None:
            raise RuntimeError("the local stack is not started")
        return self._api_url

    @property
    def endpoint_url(self) -> str:
        if self._running.moto is None:
            raise RuntimeError("the local stack is not started")
        return self._running.moto.url

    @property
    def region(self) -> str:
        return self.options.region

    @property
    def config(self) -> dict[str, Any]:
        """The content of ``local.json``: URLs, keys, webhook secrets, demo data summary."""
        if self._config is None:
            raise RuntimeError("the local stack is not started")
        return self._config

    @property
    def config_path(self) -> Path:
        return self.options.state_dir / CONFIG_NAME

    @property
    def outbox_dir(self) -> Path:
        return self.options.state_dir / OUTBOX_NAME

    @property
    def pump(self) -> Any:
        """The running :class:`~infra.local.pump.EventPump` (e.g. for ``run_until_idle``)."""
        return self._running.pump

    @property
    def running(self) -> bool:
        """True from the end of a successful start() until stop()."""
        return self._config is not None

    def start(self) -> LocalStack:
        if self._running.moto is not None:
            raise RuntimeError("the local stack is already started")
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop everything started, newest first; safe to call twice or after a failed start."""
        running, self._running = self._running, _Running()
        self._api_url = None
        self._config = None
        # Requests first, then the pump they feed, then the mailbox (its last poll picks up what
        # the pump sent while stopping), moto last: everything before it still talks to it.
        if running.http_server is not None:
            if running.http_thread is not None:
                _quietly("the API server", running.http_server.server.shutdown)
                running.http_thread.join(5)
            _quietly("the API server socket", running.http_server.server.server_close)
        if running.pump is not None:
            _quietly("the event pump", running.pump.stop)
        if running.faults is not None:
            _quietly("the fault report", running.faults.stop)
        if running.observer is not None:
            _quietly("the mailbox", running.observer.stop)
        if running.config_path is not None:
            # local.json describes a running stack; its keys mean nothing once moto is gone.
            running.config_path.unlink(missing_ok=True)
        if running.moto is not None:
            _quietly("moto", running.moto.stop)
        _restore_environment(running.env_before)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- start-up, step by step ----------------------------------------------------------------

    def _start(self) -> None:
        opts = self.options
        _hide_known_cloudformation_gaps()
        moto = SerialisedMotoServer(LOOPBACK, opts.aws_port)
        try:
            moto.start()
        except OSError as error:
            raise LocalStackError(
                f"moto cannot listen on {LOOPBACK}:{opts.aws_port} ({error.strerror or error}); "
                f"set {ENV_AWS_PORT} to another port, or 0 for a free one"
            ) from error
        self._running.moto = moto
        endpoint = moto.url
        logger.info("moto listening on %s", endpoint)

        self._set_environment(_aws_environment(endpoint, opts.region))
        import boto3

        # Credentials and region are read when a session is built: build a fresh default one.
        boto3.setup_default_session()

        from infra.stack import app_environment, deploy_stack

        outputs = deploy_stack(self._client("cloudformation"), opts.stage)
        table = outputs["TableName"]
        logger.info("stack %s created (table %s)", opts.stage, table)

        provisional_url = f"http://{LOOPBACK}:{opts.api_port}"
        app_env = {
            **app_environment(outputs, opts.stage),
            ENV_SENDER: opts.sender_email,
            ENV_PUBLIC_BASE_URL: provisional_url,
            # Locally the stores' endpoints are on this machine (a receiver on 127.0.0.1);
            # AWS stages refuse loopback and private addresses (SSRF).
            ENV_ALLOW_LOOPBACK_WEBHOOKS: os.environ.get(ENV_ALLOW_LOOPBACK_WEBHOOKS, "true"),
        }
        self._set_environment(app_env)

        from infra.local import seed

        seeded = seed.seed(
            dynamodb=self._client("dynamodb"),
            ssm=self._client("ssm"),
            ses=self._client("ses"),
            table=table,
            stage=opts.stage,
            sender_email=opts.sender_email,
        )
        logger.info("demo data seeded")

        app, http_server = self._create_api_server(app_env)
        port = http_server.server.server_address[1]
        self._api_url = f"http://{LOOPBACK}:{port}"
        if self._api_url != provisional_url:
            # Port 0 picked a free port: links in e-mails must carry the real one.
            self._set_environment({ENV_PUBLIC_BASE_URL: self._api_url})
        self._warm_up()

        self._running.faults = FaultInjector(opts.faults)
        self._running.pump = self._create_pump(app, table, self._running.faults)
        self._running.pump.start()
        self._running.faults.start()

        from infra.local.observers import BackendObserver

        _clear_outbox(self.outbox_dir)
        self._running.observer = BackendObserver(
            moto,
            account_id=ACCOUNT_ID,
            region=opts.region,
            outbox=self.outbox_dir,
            topic_arns=[outputs["WarehouseTopicArn"], outputs["OperationsTopicArn"]],
        )
        self._running.observer.start()

        thread = threading.Thread(
            target=http_server.server.serve_forever, name="oms-local-api", kwargs={"poll_interval": 0.2}
        )
        thread.daemon = True
        thread.start()
        self._running.http_thread = thread

        self._config = {
            "api_url": self._api_url,
            "aws_endpoint_url": endpoint,
            "region": opts.region,
            "keys": {
                "admin": seeded.admin_key,
                "channels": seeded.channel_keys,
                "warehouses": seeded.warehouse_keys,
            },
            "webhook_secrets": seeded.webhook_secrets,
            **seed.describe(),
        }
        self._running.config_path = write_local_config(opts.state_dir, self._config)

    def _set_environment(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            self._running.env_before.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        # Recent boto3 sends DynamoDB calls to account-based endpoints unless told otherwise.
        config = Config(account_id_endpoint_mode="disabled") if service.startswith("dynamodb") else None
        return boto3.client(service, region_name=self.options.region, config=config)

    def _create_api_server(self, app_env: Mapping[str, str]) -> tuple[Any, Any]:
        """The app behind chalice's own local API Gateway, loaded the way ``chalice local`` loads it."""
        from chalice.cli.factory import CLIFactory
        from chalice.deploy.validate import validate_routes

        if "app" in sys.modules:
            logger.warning("app was imported before the local stack started; its queue names may be stale")
        project = str(self.options.project_dir)
        # Chalice() tags the process's AWS_EXECUTION_ENV, as in Lambda; stop() puts it back.
        self._running.env_before.setdefault("AWS_EXECUTION_ENV", os.environ.get("AWS_EXECUTION_ENV"))
        factory = CLIFactory(project, environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name=CHALICE_STAGE)
        app = config.chalice_app  # imports app.py with our environment in place
        overridden = sorted(name for name, value in app_env.items() if os.environ.get(name) != value)
        if overridden:
            raise LocalStackError(
                f".chalice/config.json sets {', '.join(overridden)} for stage {CHALICE_STAGE!r} or "
                "for every stage; the local stack needs the values from its own infra stack"
            )
        validate_routes(app.routes)
        try:
            server = factory.create_local_server(app, config, LOOPBACK, self.options.api_port)
        except OSError as error:
            raise LocalStackError(
                f"the API cannot listen on {LOOPBACK}:{self.options.api_port} ({error.strerror or error}); "
                f"set {ENV_API_PORT} to another port, or 0 for a free one"
            ) from error
        self._running.http_server = server
        return app, server

    def _warm_up(self) -> None:
        from chalicelib.adapters.aws import client
        from chalicelib.bootstrap import reset_services, services

        reset_services()  # settings are read from the environment just set
        services()
        for service in _WARM_CLIENTS:
            client(service)

    def _create_pump(self, app: Any, table: str, faults: FaultInjector) -> Any:
        from chalice.app import DynamoDBEventConfig

        from infra.local.pump import EventPump, EventSourceError

        opts = self.options
        # Every stream handler reads the table's live stream (its decorator holds a placeholder ARN).
        stream_tables = {s.name: table for s in app.event_sources if isinstance(s, DynamoDBEventConfig)}
        try:
            return EventPump.for_endpoint(
                app,
                endpoint_url=self.endpoint_url,
                region_name=opts.region,
                stream_tables=stream_tables,
                stage=opts.stage,
                account_id=ACCOUNT_ID,
                clock_speed=opts.clock_speed,
                visibility_timeout_override=opts.visibility_timeout,
                # moto signals each write: the pump sleeps until then instead of polling.
                activity=self._running.moto.activity if self._running.moto is not None else None,
                # As the packaged stream sources (infra/build_merge.py): under injected faults a
                # batch fails several times in a row now and then, and must not be dropped for it.
                stream_max_retries=10,
                faults=faults if faults.enabled else None,
            )
        except EventSourceError as error:
            raise LocalStackError(
                f"{error}: was app imported before the local stack set its environment?"
            ) from error


#: Resource types of infra/template.yaml that moto's CloudFormation skips; they only matter in AWS
#: (docs/local-stack.md, "Known differences"), so saying so on every start is noise.
_KNOWN_SKIPPED_RESOURCES = ("AWS::SQS::QueuePolicy", "AWS::CloudWatch::Alarm")


def _known_gap_filter(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not (
        message.startswith("No Moto CloudFormation support") and message.endswith(_KNOWN_SKIPPED_RESOURCES)
    )


def _hide_known_cloudformation_gaps() -> None:
    """Silence moto's notes about the known skipped types; any other skipped type is still reported."""
    moto_log = logging.getLogger("moto")
    if _known_gap_filter not in moto_log.filters:
        moto_log.addFilter(_known_gap_filter)
    for resource_type in _KNOWN_SKIPPED_RESOURCES:
        warnings.filterwarnings("ignore", message=f"Tried to parse {resource_type} ", category=UserWarning)


def _aws_environment(endpoint: str, region: str) -> dict[str, str | None]:
    """Point every AWS SDK call of this process at moto, with credentials that open nothing real."""
    env: dict[str, str | None] = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIAL,
        "AWS_SESSION_TOKEN": FAKE_CREDENTIAL,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # The developer's own AWS configuration must not leak in: a profile could name a real
        # account, a service-specific endpoint could send one service's calls to the real AWS.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in os.environ:
        if name.startswith("AWS_ENDPOINT_URL_"):
            env[name] = None
    return env


def _restore_environment(before: Mapping[str, str | None]) -> None:
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _clear_outbox(outbox: Path) -> None:
    # The stack starts empty every time; mail about orders that no longer exist would mislead.
    if outbox.is_dir():
        for old in outbox.glob("*.eml"):
            old.unlink(missing_ok=True)


def _quietly(what: str, stop: Any) -> None:
    try:
        stop()
    except Exception:  # one piece failing to stop must not keep the others running
        logger.exception("stopping %s failed", what)
