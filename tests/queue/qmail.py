#!/usr/bin/python3
"""tests/queue/qmail.py: the queue tests' remote SMTP server and client.

  qmail.py sink --dir DIR [--port 25]
      A remote mail server (asyncio, no smtpd module): it answers 451 to
      every RCPT until the file DIR/accept exists, then takes each message
      and appends its Message-ID to DIR/received (one line each, flushed
      before the 250).  DIR/attempts counts the refused RCPTs; a client
      that goes away inside DATA (no final ".") got no 250 and sends the
      message again: its Message-ID, if read, goes to DIR/aborted.
  qmail.py send --host H --count N --tag T --to ADDR [--port 25] [--ids I,J]
      N messages through H, Message-ID <T-i@queue.test>, each SMTP session
      ending in a 250; prints how many were accepted.  --ids: only the
      messages i of that list (each below N).
  qmail.py try --host H --count N --tag T --to ADDR [--port 25] [--ids I,J]
      As send, but every message is tried once and a refusal is not an
      error: prints "i CODE" per message (250 if accepted, else the SMTP
      code of the refusal: of MAIL, RCPT or DATA), exit 0.
  qmail.py count (--dir DIR | --maildir MAILDIR) --tag T --count N
      Checks DIR/received (or the messages in MAILDIR's new/ and cur/):
      each of the N Message-IDs exactly once, nothing else of tag T; prints
      a one-line verdict, exit 0 only if so.
"""
import argparse
import asyncio
import os
import smtplib
import sys
from email.message import EmailMessage


class Sink:
    def __init__(self, d):
        self.d = d

    def accepting(self):
        return os.path.exists(os.path.join(self.d, "accept"))

    def note(self, name, line):
        with open(os.path.join(self.d, name), "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    async def session(self, reader, writer):
        def say(s):
            writer.write((s + "\r\n").encode())

        say("220 sink.queue.test ESMTP")
        rcpts = 0
        try:
            while True:
                line = await asyncio.wait_for(reader.readline(), 60)
                if not line:
                    break
                cmd = line.decode("latin-1").strip()
                verb = cmd[:4].upper()
                if verb in ("EHLO", "HELO"):
                    say("250 sink.queue.test")
                elif verb == "MAIL":
                    rcpts = 0
                    say("250 ok")
                elif verb == "RCPT":
                    if self.accepting():
                        rcpts += 1
                        say("250 ok")
                    else:
                        self.note("attempts", cmd)
                        say("451 4.3.0 try again later")
                elif verb == "DATA":
                    if not rcpts:
                        say("503 no recipients")
                        continue
                    say("354 go ahead")
                    await writer.drain()
                    mid, ended = "", False
                    while True:
                        l = await asyncio.wait_for(reader.readline(), 60)
                        if not l:
                            break
                        if l in (b".\r\n", b".\n"):
                            ended = True
                            break
                        if not mid and l[:11].lower() == b"message-id:":
                            mid = l[11:].decode("latin-1").strip()
                    if not ended:
                        # the client went away inside DATA: nothing was
                        # accepted, and it will send the message again
                        self.note("aborted", mid or "<none>")
                        break
                    self.note("received", mid or "<none>")
                    say("250 2.0.0 queued")
                elif verb == "RSET":
                    rcpts = 0
                    say("250 ok")
                elif verb == "QUIT":
                    say("221 bye")
                    await writer.drain()
                    break
                else:
                    say("250 ok")
                await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        writer.close()


async def serve(args):
    sink = Sink(args.dir)
    server = await asyncio.start_server(sink.session, "0.0.0.0", args.port)
    open(os.path.join(args.dir, "listening"), "w").close()
    async with server:
        await server.serve_forever()


def message(args, i):
    m = EmailMessage()
    m["From"] = "sender@queue.test"
    m["To"] = args.to
    m["Subject"] = "%s %d" % (args.tag, i)
    m["Message-ID"] = "<%s-%d@queue.test>" % (args.tag, i)
    m.set_content("queued message %d of %s\n" % (i, args.tag))
    return m


def indexes(args):
    if not args.ids:
        return range(args.count)
    return [int(i) for i in args.ids.split(",") if i != ""]


def send(args):
    ok = 0
    for i in indexes(args):
        with smtplib.SMTP(args.host, args.port, timeout=30) as s:
            s.send_message(message(args, i))
        ok += 1
    print(ok)


def try_send(args):
    for i in indexes(args):
        try:
            with smtplib.SMTP(args.host, args.port, timeout=30) as s:
                s.send_message(message(args, i))
            code = 250
        except smtplib.SMTPRecipientsRefused as e:
            code = list(e.recipients.values())[0][0]
        except smtplib.SMTPResponseException as e:
            code = e.smtp_code
        print("%d %d" % (i, code), flush=True)


def maildir_ids(d):
    """The Message-ID of each message file in Maildir d (new/ and cur/)."""
    for sub in ("new", "cur"):
        try:
            names = os.listdir(os.path.join(d, sub))
        except FileNotFoundError:
            continue
        for n in names:
            try:
                with open(os.path.join(d, sub, n), "rb") as f:
                    for l in f:
                        if l in (b"\r\n", b"\n"):
                            break
                        if l[:11].lower() == b"message-id:":
                            yield l[11:].decode("latin-1").strip()
                            break
            except FileNotFoundError:
                pass


def count(args):
    want = {"<%s-%d@queue.test>" % (args.tag, i) for i in range(args.count)}
    seen = {}
    if args.maildir:
        lines = list(maildir_ids(args.maildir))
    else:
        try:
            with open(os.path.join(args.dir, "received")) as f:
                lines = [l.strip() for l in f]
        except FileNotFoundError:
            lines = []
    for l in lines:
        if ("<%s-" % args.tag) in l:
            seen[l] = seen.get(l, 0) + 1
    missing = sorted(want - set(seen))
    twice = sorted(k for k, v in seen.items() if v > 1)
    other = sorted(set(seen) - want)
    print("delivered %d of %d, %d twice, %d missing, %d unexpected%s" % (
        len(set(seen) & want), len(want), len(twice), len(missing), len(other),
        (": twice " + " ".join(twice[:5])) if twice else ""))
    return 0 if not missing and not twice and not other else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("sink")
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=25)
    for name in ("send", "try"):  # the same message stream; try records each reply code
        p = sub.add_parser(name)
        p.add_argument("--host", required=True)
        p.add_argument("--port", type=int, default=25)
        p.add_argument("--count", type=int, required=True)
        p.add_argument("--tag", required=True)
        p.add_argument("--to", required=True)
        p.add_argument("--ids", default="")
    p = sub.add_parser("count")
    p.add_argument("--dir")
    p.add_argument("--maildir", help="count the messages of this Maildir instead")
    p.add_argument("--tag", required=True)
    p.add_argument("--count", type=int, required=True)
    args = ap.parse_args()
    if args.cmd == "sink":
        asyncio.run(serve(args))
    elif args.cmd == "send":
        send(args)
    elif args.cmd == "try":
        try_send(args)
    else:
        sys.exit(count(args))


if __name__ == "__main__":
    main()
