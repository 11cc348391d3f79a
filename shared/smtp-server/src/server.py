"""A real SMTP server for tests, on aiosmtpd.

Binds a free port on 127.0.0.1 and prints it on stdout. With --cert it offers STARTTLS and
requires it, and requires AUTH (PLAIN or LOGIN) as --user/--password; without, it speaks plain
text and accepts AUTH there too. Each accepted message is written, before the client is told
250, as one JSON file in --messages: the envelope, the raw content, and the headers and body as
Python's email package reads them (an independent MIME decoder). Recipients whose local part is
"unknown" are refused with 550, "busy" with 451. Exits when stdin closes, so that a test process
that dies leaves no server behind.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Recorder:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local_part = address.partition("@")[0]
        if local_part == "unknown":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local_part == "busy":
            return f"451 4.2.1 <{address}>: Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "over_tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "raw": envelope.content.decode("utf-8", errors="replace"),
            "headers": [[name, str(value)] for name, value in parsed.items()],
            "body": parsed.get_content(),
        }
        self.count += 1
        path = os.path.join(self.directory, f"{self.count:06}.json")
        # Renamed into place: a reader never sees half a file.
        with open(path + ".tmp", "w", encoding="utf-8") as file:
            json.dump(record, file)
        os.replace(path + ".tmp", path)
        return "250 2.0.0 Message accepted for delivery"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        accepted = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # A refusal not handled here gets aiosmtpd's standard "535 5.7.8" reply.
        return AuthResult(success=accepted, handled=False)

    return check


def smtp_options(args):
    options = {
        "hostname": "nrt-test-smtp",
        "authenticator": authenticator(args.user, args.password),
    }
    if args.cert is None:
        options["auth_require_tls"] = False
        return options
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    options.update(
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
    )
    return options


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


async def serve(args):
    recorder = Recorder(args.messages)
    options = smtp_options(args)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(recorder, **options), host="127.0.0.1", port=0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
