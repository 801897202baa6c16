"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives."""

import socket
import threading

from aiosmtpd.controller import Controller


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    """Accept every message, or answer with a fixed reply when one is set."""

    def __init__(self):
        self.messages = []
        self.reply = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.reply is not None:
            return self.reply
        with self.lock:
            self.messages.append(envelope)
        return "250 2.0.0 Ok: queued"

    def received(self):
        with self.lock:
            return list(self.messages)


class SmtpSink:
    """Start and stop an aiosmtpd server on a free loopback port."""

    def __init__(self):
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1",
                                     port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def relayhost(self):
        return f"[127.0.0.1]:{self.port}"
