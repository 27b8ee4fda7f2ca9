#!/usr/bin/python3
"""A real Matrix client (matrix-nio) that talks to one bizbots bot.

It logs in, opens a DM with the bot (is_direct, trusted_private_chat),
waits for the bot to join and send its first message (the welcome), sends
N numbered messages and waits for N replies from the bot. Every event seen
in the DM is printed to stdout as one JSON line, so a test can check order
and count:

  {"kind": "event", "type": "m.room.message", "sender": ..., "body": ...,
   "msgtype": ..., "event_id": ..., "origin_server_ts": ..., "room_id": ...}
  {"kind": "event", "type": "m.room.member", "sender": ..., "state_key": ...,
   "membership": ..., ...}

plus progress lines of kind "login", "room", "joined", "welcome", "sent",
"reply", "done" and, on failure, "error". Exit status: 0 when everything
arrived in time, 1 on failure or timeout (with a message on stderr), 2 on a
usage error.

Needs Debian's python3-matrix-nio (scripts/install-client-deps.sh); run it
with /usr/bin/python3, which is where Debian installs nio.

  /usr/bin/python3 e2e/client.py --homeserver http://127.0.0.1:8008 \
      --user alice --password secret --bot @pizza:localhost --messages 3
"""

import argparse
import asyncio
import json
import sys
import time

try:
    from nio import AsyncClient, AsyncClientConfig, RoomPreset, SyncResponse
except ImportError as exc:  # pragma: no cover
    sys.stderr.write(
        "client.py: matrix-nio is not importable by %s (%s); run "
        "scripts/install-client-deps.sh and use /usr/bin/python3\n" % (sys.executable, exc)
    )
    sys.exit(1)


class Failure(Exception):
    pass


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


class Session:
    def __init__(self, args):
        self.args = args
        self.client = AsyncClient(
            args.homeserver,
            args.user,
            config=AsyncClientConfig(
                encryption_enabled=False,
                store_sync_tokens=False,
                request_timeout=30,
                max_timeouts=3,
                max_limit_exceeded=10,
            ),
        )
        self.room_id = None
        self.since = None
        self.seen = set()
        self.bot_joined = False
        self.bot_messages = []  # message events from the bot, in timeline order
        self.deadline = time.monotonic() + args.timeout
        self.sync_filter = {"room": {"timeline": {"limit": 200}}}

    def remaining(self):
        return self.deadline - time.monotonic()

    async def sync_once(self, wait_ms):
        resp = await self.client.sync(timeout=wait_ms, since=self.since, sync_filter=self.sync_filter)
        if not isinstance(resp, SyncResponse):
            raise Failure("sync failed: %s" % (resp,))
        self.since = resp.next_batch
        room = resp.rooms.join.get(self.room_id)
        if room is None:
            return
        if room.timeline.limited and self.seen:
            emit({"kind": "warning", "message": "timeline gap (limited sync); events may be missing"})
        for ev in room.timeline.events:
            self.handle(ev.source)

    def handle(self, src):
        event_id = src.get("event_id")
        if not event_id or event_id in self.seen:
            return
        self.seen.add(event_id)
        content = src.get("content") or {}
        out = {
            "kind": "event",
            "type": src.get("type"),
            "sender": src.get("sender"),
            "event_id": event_id,
            "origin_server_ts": src.get("origin_server_ts"),
            "room_id": self.room_id,
        }
        etype = src.get("type")
        if etype == "m.room.message":
            out["body"] = content.get("body")
            out["msgtype"] = content.get("msgtype")
        elif etype == "m.room.member":
            out["state_key"] = src.get("state_key")
            out["membership"] = content.get("membership")
        elif etype == "m.reaction":
            rel = content.get("m.relates_to") or {}
            out["key"] = rel.get("key")
            out["relates_to"] = rel.get("event_id")
        emit(out)
        if etype == "m.room.member" and src.get("state_key") == self.args.bot and content.get("membership") == "join":
            if not self.bot_joined:
                self.bot_joined = True
                emit({"kind": "joined", "user_id": self.args.bot})
        if etype == "m.room.message" and src.get("sender") == self.args.bot:
            self.bot_messages.append(out)

    async def wait_for(self, what, cond):
        """Sync until cond() holds or the overall deadline passes."""
        # Bounded: each round takes at most ~2s of long-poll, and the loop
        # ends at the deadline.
        while not cond():
            left = self.remaining()
            if left <= 0:
                raise Failure("timed out after %ss waiting for %s" % (self.args.timeout, what))
            await self.sync_once(int(min(2.0, max(left, 0.05)) * 1000))

    async def run(self):
        args = self.args
        resp = await self.client.login(password=args.password, device_name="bizbots-e2e-client")
        if not getattr(resp, "access_token", None):
            raise Failure("login as %s failed: %s" % (args.user, resp))
        emit({"kind": "login", "user_id": resp.user_id, "device_id": resp.device_id})

        resp = await self.client.room_create(
            is_direct=True,
            invite=[args.bot],
            preset=RoomPreset.trusted_private_chat,
        )
        if not getattr(resp, "room_id", None):
            raise Failure("creating a DM with %s failed: %s" % (args.bot, resp))
        self.room_id = resp.room_id
        emit({"kind": "room", "room_id": self.room_id, "bot": args.bot})

        await self.wait_for("%s to join" % args.bot, lambda: self.bot_joined)
        if not args.no_welcome:
            await self.wait_for("a welcome message from %s" % args.bot, lambda: len(self.bot_messages) >= 1)
            emit({"kind": "welcome", "body": self.bot_messages[0].get("body")})
        base = len(self.bot_messages)

        sent = []
        for i in range(1, args.messages + 1):
            body = "%s %d" % (args.text, i)
            r = await self.client.room_send(
                self.room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                tx_id="e2e-%d-%d" % (int(time.time() * 1000), i),
            )
            if not getattr(r, "event_id", None):
                raise Failure("sending message %d failed: %s" % (i, r))
            sent.append(body)
            emit({"kind": "sent", "n": i, "body": body, "event_id": r.event_id})
            if args.one_by_one:
                await self.wait_for("reply %d of %d" % (i, args.messages), lambda: len(self.bot_messages) - base >= i)

        await self.wait_for(
            "%d replies from %s (got %d)" % (args.messages, args.bot, len(self.bot_messages) - base),
            lambda: len(self.bot_messages) - base >= args.messages,
        )
        replies = self.bot_messages[base:base + args.messages]
        for i, rep in enumerate(replies, 1):
            emit({"kind": "reply", "n": i, "body": rep.get("body"), "event_id": rep["event_id"]})
        if args.expect_echo:
            for i, (body, rep) in enumerate(zip(sent, replies), 1):
                if body not in (rep.get("body") or ""):
                    raise Failure("reply %d does not contain %r: %r" % (i, body, rep.get("body")))

        # Settle: catch duplicates or extra replies for a short while.
        settle_end = time.monotonic() + min(args.settle, max(self.remaining(), 0))
        while time.monotonic() < settle_end:
            await self.sync_once(int(max(settle_end - time.monotonic(), 0.05) * 1000))
        extra = len(self.bot_messages) - base - args.messages
        if args.exact and extra > 0:
            raise Failure("%d more message(s) from %s than the %d expected replies" % (extra, args.bot, args.messages))
        emit({"kind": "done", "room_id": self.room_id, "replies": len(self.bot_messages) - base, "extra": extra})


async def amain(args):
    s = Session(args)
    try:
        await asyncio.wait_for(s.run(), timeout=args.timeout + 30)
        return 0
    except Failure as exc:
        emit({"kind": "error", "message": str(exc)})
        sys.stderr.write("client.py: FAIL: %s\n" % exc)
        return 1
    except asyncio.TimeoutError:
        emit({"kind": "error", "message": "overall timeout"})
        sys.stderr.write("client.py: FAIL: overall timeout\n")
        return 1
    except Exception as exc:  # connection refused and the like
        emit({"kind": "error", "message": "%s: %s" % (type(exc).__name__, exc)})
        sys.stderr.write("client.py: FAIL: %s: %s\n" % (type(exc).__name__, exc))
        return 1
    finally:
        await s.client.close()


def main():
    p = argparse.ArgumentParser(description="Open a DM with a bizbots bot and exchange numbered messages.")
    p.add_argument("--homeserver", required=True, help="e.g. http://127.0.0.1:8008")
    p.add_argument("--user", required=True, help="localpart or full user id")
    p.add_argument("--password", required=True)
    p.add_argument("--bot", required=True, help="e.g. @pizza:localhost")
    p.add_argument("--messages", type=int, default=3, help="how many numbered messages to send (default 3)")
    p.add_argument("--text", default="message", help="message prefix; message i is '<text> <i>'")
    p.add_argument("--timeout", type=float, default=60, help="overall time limit in seconds (default 60)")
    p.add_argument("--settle", type=float, default=2, help="seconds to keep listening after the last reply (default 2)")
    p.add_argument("--one-by-one", action="store_true", help="wait for each reply before sending the next message")
    p.add_argument("--expect-echo", action="store_true", help="fail unless reply i contains message i's text")
    p.add_argument("--exact", action="store_true", help="fail if the bot sends more replies than messages")
    p.add_argument("--no-welcome", action="store_true", help="do not wait for a welcome message")
    args = p.parse_args()
    if args.messages < 0 or args.timeout <= 0:
        p.error("--messages must be >= 0 and --timeout > 0")
    sys.exit(asyncio.run(amain(args)))


if __name__ == "__main__":
    main()
