"""A real SMTP server for Tuki's outbox tests: aiosmtpd on loopback.

Usage: python3 sink.py PORT DIR [starttls|tls CERT KEY]. Every message it
accepts is written to DIR as NNNN.eml (written to a temporary name first,
then renamed, so a reader never sees half a message), with the envelope
recipients in an X-Envelope-To header. Prints "ready" once it listens; runs
until killed.

With `starttls` the server offers STARTTLS and refuses mail until the client
has used it; with `tls` it speaks TLS from the first byte (port 465 style).
CERT and KEY are the server's certificate and key (PEM).
"""

import os
import ssl
import sys
import time
import traceback

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import TLSSetupException


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = os.path.join(self.folder, "%04d.eml" % self.count)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        head = ("X-Envelope-From: %s\r\nX-Envelope-To: %s\r\n"
                % (envelope.mail_from, ",".join(envelope.rcpt_tos))).encode()
        with open(name + ".tmp", "wb") as f:
            f.write(head + data)
        os.rename(name + ".tmp", name)
        return "250 Message accepted for delivery"

    async def handle_exception(self, error):
        # A client that rejects the certificate ends the handshake: expected
        # in the TLS tests, so one line instead of aiosmtpd's traceback.
        if isinstance(error, TLSSetupException):
            print("sink.py: TLS handshake failed: %s" % error.__cause__, file=sys.stderr)
            return "421 4.7.0 TLS handshake failed"
        traceback.print_exception(error)
        return "500 Error: (%s) %s" % (type(error).__name__, error)


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "plain"
    os.makedirs(folder, exist_ok=True)
    options = {}
    if mode in ("starttls", "tls"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[4], sys.argv[5])
        if mode == "starttls":
            options = {"tls_context": context, "require_starttls": True}
        else:
            options = {"ssl_context": context}
    elif mode != "plain":
        sys.exit("unknown mode %r: plain, starttls or tls" % mode)
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
