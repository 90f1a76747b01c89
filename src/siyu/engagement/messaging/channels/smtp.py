"""Email over SMTP (RFC 5321) with smtplib: one connection per delivery batch, STARTTLS or implicit TLS
when configured, AUTH when a user is set. Reply codes 4xx are transient (retry later), 5xx permanent
(RFC 5321 §4.2.1). The Message-ID is derived from the send's idempotency key so that a receiving system
can recognise a repeat."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from siyu.engagement.messaging.channels.base import (
    ChannelAdapter,
    Outcome,
    Outgoing,
    ProviderError,
    failed,
    render,
    sent,
)


def _by_code(code: int, text) -> Outcome:
    message = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return failed(f"SMTP {code}: {message}", retryable=400 <= code < 500)


class SmtpAdapter(ChannelAdapter):
    provider = "smtp"
    address_kind = "email"

    def __init__(self, settings: dict, secrets: dict):
        super().__init__(settings, secrets)
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        host, port = self.settings.get("host", "localhost"), int(self.settings.get("port") or 25)
        security = self.settings.get("security", "starttls" if port == 587 else "none")
        timeout = float(self.settings.get("timeout") or 15)
        try:
            if security == "tls":
                smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
                if security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if self.settings.get("user"):
                smtp.login(self.settings["user"], self.secrets.get("password", ""))
        except smtplib.SMTPAuthenticationError as exc:
            raise ProviderError(f"SMTP login refused: {exc.smtp_code}", retryable=False) from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise ProviderError(f"cannot reach the SMTP server {host}:{port}: {exc}", retryable=True) from exc
        self._smtp = smtp
        return smtp

    def build(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.settings.get("from_address", "")
        email["To"] = message.address["email"]
        email["Subject"] = render(message.subject or message.template, message.variables)
        email["Date"] = formatdate(localtime=False)
        domain = (self.settings.get("from_address", "").rpartition("@")[2] or "siyu.local").strip(">")
        email["Message-ID"] = f"<{message.idempotency_key}@{domain}>"
        email.set_content(render(message.content, message.variables))
        return email

    def deliver_one(self, message: Outgoing) -> Outcome:
        smtp = self._connect()
        try:
            refused = smtp.send_message(self.build(message))
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _by_code(code, text)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            return _by_code(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()
            raise ProviderError(f"the SMTP connection broke: {exc}", retryable=True) from exc
        if refused:
            code, text = next(iter(refused.values()))
            return _by_code(code, text)
        return sent()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._smtp = None
