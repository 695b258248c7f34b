"""What the service sends out, made visible locally: e-mails as .eml files, SNS messages in the log.

Both read moto's backends in-process (the moto server runs in this process), under the server's
request lock, from one small polling thread:

* **Mailbox** — every message SES accepted is written to ``<state dir>/outbox/`` as an RFC 5322
  ``.eml`` file (text and HTML alternatives) that any mail client opens. SES in AWS would deliver
  it; here the file is the delivery.
* **SNS log** — every message published to the warehouse and operations topics, and every SMS,
  is logged on ``oms.local.sns``. Why read the topics' own record of publishes rather than
  subscribe local queues and drain them: it adds no resources the infra template does not have
  (``tools.dlq`` and the tests see exactly the template's queues), it shows each message once
  whatever filter policies subscribers use, and it costs no requests to the serialised server.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from infra.local.moto_server import SerialisedMotoServer

__all__ = ["BackendObserver", "html_to_text"]

mail_log = logging.getLogger("oms.local.mail")
sns_log = logging.getLogger("oms.local.sns")

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_BLOCK_TAGS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "ul", "ol"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """A readable plain-text rendering of an HTML body (only used when the real text part is lost)."""
    parser = _TextExtractor()
    parser.feed(html)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


class BackendObserver:
    """Polls moto's SES and SNS backends; writes the mailbox and the SNS log (see the module docstring)."""

    def __init__(
        self,
        server: SerialisedMotoServer,
        *,
        account_id: str,
        region: str,
        outbox: Path,
        topic_arns: Sequence[str],
        interval: float = 0.2,
    ) -> None:
        self._server = server
        self._account_id = account_id
        self._region = region
        self.outbox = outbox
        self._topic_arns = list(topic_arns)
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="oms-local-observer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.poll()  # what was sent just before stopping still reaches the mailbox and the log

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.poll()
            except Exception:  # a bad message must not end the mailbox for the rest of the run
                mail_log.exception("reading moto's SES/SNS backends failed")

    def poll(self) -> None:
        """Write and log whatever was sent since the last poll, and take it out of moto.

        moto keeps every e-mail, topic message and SMS for ever; once written to the mailbox or
        the log they are dropped, so that the stack's memory does not grow with every order.
        """
        with self._server.lock:
            ses = ses_backends[self._account_id][self._region]
            mails = list(ses.sent_messages)
            del ses.sent_messages[:]
            sns = sns_backends[self._account_id][self._region]
            notes: list[tuple[str, Any]] = []
            for arn in self._topic_arns:
                topic = sns.topics.get(arn)
                if topic is None:
                    continue
                notes += [(topic.name, note) for note in topic.sent_notifications]
                del topic.sent_notifications[:]
            sms = list(sns.sms_messages.items())
            sns.sms_messages.clear()
        for mail in mails:
            self._write_mail(mail)
        for topic_name, note in notes:
            _log_notification(topic_name, note)
        for message_id, (phone, text) in sms:
            sns_log.info("SMS %s to %s: %s", message_id, phone, text)

    def _write_mail(self, mail: Any) -> None:
        message_id = str(mail.id)
        now = datetime.now(UTC)
        raw = getattr(mail, "raw_data", None)
        if raw is not None:  # SendRawEmail: already RFC 5322
            data = raw.encode() if isinstance(raw, str) else bytes(raw)
            to = ", ".join(getattr(mail, "destinations", []) or [])
            subject = "(raw message)"
        else:
            message = _email_message(mail, now, self._server.ses_text.pop(message_id))
            data = bytes(message)
            to, subject = str(message.get("To", "")), str(message.get("Subject", ""))
        name = f"{now:%Y%m%dT%H%M%S%fZ}-{_UNSAFE_FILENAME.sub('_', message_id)}.eml"
        path = self.outbox / name
        path.write_bytes(data)
        mail_log.info("mail to %s: %s -> %s", to, subject, path)


def _email_message(mail: Any, sent_at: datetime, text: str | None) -> EmailMessage:
    destinations: dict[str, list[str]] = getattr(mail, "destinations", {}) or {}
    message = EmailMessage()
    message["From"] = mail.source
    if destinations.get("ToAddresses"):
        message["To"] = ", ".join(destinations["ToAddresses"])
    if destinations.get("CcAddresses"):
        message["Cc"] = ", ".join(destinations["CcAddresses"])
    message["Subject"] = getattr(mail, "subject", None) or getattr(mail, "template", "")
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = f"<{mail.id}@oms.localhost>"
    message["X-SES-Message-ID"] = str(mail.id)
    body = getattr(mail, "body", None)
    if body is None:  # a templated e-mail: moto keeps the template name and data only
        message.set_content(f"template {mail.template}\n\n{mail.template_data}\n")
        return message
    is_html = "<" in body and ">" in body
    if is_html:
        message.set_content(text if text is not None else html_to_text(body))
        message.add_alternative(body, subtype="html")
    else:
        message.set_content(text if text is not None else body)
    return message


def _log_notification(topic_name: str, note: Sequence[Any]) -> None:
    message_id, message, subject, attributes = note[0], note[1], note[2], note[3] or {}
    shown = {name: _attribute_value(value) for name, value in attributes.items()}
    try:
        body = json.dumps(json.loads(message), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        body = str(message)
    sns_log.info(
        "SNS %s %s%s%s\n%s",
        topic_name,
        message_id,
        f' "{subject}"' if subject else "",
        "".join(f" {k}={v}" for k, v in shown.items()),
        "\n".join(f"    {line}" for line in body.splitlines()),
    )


def _attribute_value(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("StringValue", "Value", "BinaryValue"):
            if key in value:
                return str(value[key])
    return str(value)
