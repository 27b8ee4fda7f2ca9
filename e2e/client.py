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

With --interactive it instead prints {"kind": "ready"} after the welcome,
keeps one sync loop running (printing every event as it arrives, with
"t_recv", the client's wall clock) and reads commands on stdin, one per
line, each answered by a "sent" line (with "what", "event_id",
"t_send"/"t_sent"):

  send TEXT                    an m.text message
  thread ROOT_ID TEXT          an m.text message in the thread of ROOT_ID
  react EVENT_ID KEY           an m.reaction (m.annotation) with KEY, e.g. 1️⃣
  location GEO_URI TEXT        an m.location message (geo:52.37,4.89)
  leave                        leave the room; the next invite from the bot
                               (a new DM it opens) is accepted and followed
                               ({"kind": "room"} again)
  quit                         stop (exit 0)

The driver (e2e/harness.ClientSession) decides what to wait for and when.

With --room ROOM_ID it uses that existing room instead of opening a DM
(a staff room): it joins it if needed, invites the bot unless the bot is
in it already, and waits for the bot's join and first message as in a DM.

Message events carry "thread" (the root of an m.thread), "in_reply_to"
and, for locations, "geo_uri"; reactions carry "key" and "relates_to".

Needs Debian's python3-matrix-nio (scripts/install-client-deps.sh); run it
with /usr/bin/python3, which is where Debian installs nio.

  /usr/bin/python3 e2e/client.py --homeserver http://127.0.0.1:8008 \
      --user alice --password secret --bot @echo:localhost --messages 3
"""

import argparse
import asyncio
import json
import sys
import time

try:
    from nio import AsyncClient, AsyncClientConfig, MegolmEvent, RoomPreset, SyncResponse
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
            store_path=args.store or None,
            config=AsyncClientConfig(
                encryption_enabled=bool(args.encrypt),
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
        self.bot_membership = None  # the bot's last membership seen in the room
        self.bot_messages = []  # message events from the bot, in timeline order
        self.deadline = time.monotonic() + args.timeout
        self.sync_filter = {"room": {"timeline": {"limit": 200}}}
        self.undecrypted = []  # MegolmEvents whose key had not come yet
        self.follow_invites = False  # after "leave": join the bot's next invite

    def remaining(self):
        return self.deadline - time.monotonic()

    async def sync_once(self, wait_ms):
        resp = await self.client.sync(timeout=wait_ms, since=self.since, sync_filter=self.sync_filter)
        if not isinstance(resp, SyncResponse):
            raise Failure("sync failed: %s" % (resp,))
        self.since = resp.next_batch
        if self.args.encrypt:
            await self.crypto_chores()
        if self.follow_invites:
            for room_id, inv in resp.rooms.invite.items():
                if any(getattr(e, "sender", None) == self.args.bot for e in inv.invite_state):
                    await self.follow(room_id)
                    break
        room = resp.rooms.join.get(self.room_id)
        if room is None:
            return
        if room.timeline.limited and self.seen:
            emit({"kind": "warning", "message": "timeline gap (limited sync); events may be missing"})
        for ev in room.timeline.events:
            self.handle_event(ev)

    async def crypto_chores(self):
        """What nio's sync_forever does for encryption: keep our keys on the
        server, learn other devices' keys, and retry events whose room key
        came later."""
        c = self.client
        if c.should_upload_keys:
            await c.keys_upload()
        if c.should_query_keys:
            await c.keys_query()
        if c.should_claim_keys:
            await c.keys_claim(c.get_users_for_key_claiming())
        await c.send_to_device_messages()
        still = []
        for ev in self.undecrypted:
            try:
                dec = c.decrypt_event(ev)
            except Exception:  # key still missing
                still.append(ev)
                continue
            self.handle_event(dec, encrypted=True)
        self.undecrypted = still

    def handle_event(self, ev, encrypted=None):
        if isinstance(ev, MegolmEvent):
            if ev.event_id not in self.seen:
                self.undecrypted.append(ev)
            return
        src = dict(ev.source)
        if encrypted is None:
            encrypted = bool(getattr(ev, "decrypted", False))
        if encrypted and src.get("type") == "m.room.encrypted":
            # nio keeps the encrypted source; the clear event is in the parsed object.
            clear = getattr(ev, "source", {})
            src = clear
        self.handle(src, encrypted=encrypted)

    def handle(self, src, encrypted=False):
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
            "t_recv": time.time(),
            "encrypted": bool(encrypted),
        }
        etype = src.get("type")
        if etype == "m.room.message":
            out["body"] = content.get("body")
            out["msgtype"] = content.get("msgtype")
            rel = content.get("m.relates_to") or {}
            if rel.get("rel_type") == "m.thread":
                out["thread"] = rel.get("event_id")
            reply_to = (rel.get("m.in_reply_to") or {}).get("event_id")
            if reply_to:
                out["in_reply_to"] = reply_to
            if content.get("msgtype") == "m.location":
                out["geo_uri"] = content.get("geo_uri")
        elif etype == "m.room.member":
            out["state_key"] = src.get("state_key")
            out["membership"] = content.get("membership")
        elif etype == "m.reaction":
            rel = content.get("m.relates_to") or {}
            out["key"] = rel.get("key")
            out["relates_to"] = rel.get("event_id")
        emit(out)
        if etype == "m.room.member" and src.get("state_key") == self.args.bot:
            self.bot_membership = content.get("membership")
        if etype == "m.room.member" and src.get("state_key") == self.args.bot and content.get("membership") == "join":
            if not self.bot_joined:
                self.bot_joined = True
                emit({"kind": "joined", "user_id": self.args.bot})
        if etype == "m.room.message" and src.get("sender") == self.args.bot:
            if self.args.encrypt and not encrypted:
                raise Failure("the bot sent a plaintext message into an encrypted room: %r" % out.get("body"))
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
        if args.encrypt:
            # As real clients do: the device's keys are on the server before
            # it opens a chat, so the bot can share its room key with it.
            await self.sync_once(0)
            if self.client.should_upload_keys:
                raise Failure("device keys not uploaded after the first sync")

        if args.room:
            await self.use_room(args.room)
        else:
            initial_state = []
            if args.encrypt:
                initial_state.append({"type": "m.room.encryption", "state_key": "",
                                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
            resp = await self.client.room_create(
                is_direct=True,
                invite=[args.bot],
                preset=RoomPreset.trusted_private_chat,
                initial_state=initial_state,
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
        if args.interactive:
            await self.interactive(base)
            return

        sent = []
        for i in range(1, args.messages + 1):
            body = "%s %d" % (args.text, i)
            r = await self.client.room_send(
                self.room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                tx_id="e2e-%d-%d" % (int(time.time() * 1000), i),
                ignore_unverified_devices=True,
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


    async def follow(self, room_id):
        """Accept the bot's invite to room_id and use that room from now on."""
        resp = await self.client.join(room_id)
        if not getattr(resp, "room_id", None):
            raise Failure("joining %s (the bot's invite) failed: %s" % (room_id, resp))
        self.follow_invites = False
        self.room_id = room_id
        emit({"kind": "room", "room_id": room_id, "bot": self.args.bot, "invited_by_bot": True})

    async def use_room(self, room_id):
        """Use an existing room (--room): join it (a no-op for a member),
        then invite the bot unless it is joined or invited already."""
        resp = await self.client.join(room_id)
        if not getattr(resp, "room_id", None):
            raise Failure("joining %s failed: %s" % (room_id, resp))
        self.room_id = room_id
        emit({"kind": "room", "room_id": self.room_id, "bot": self.args.bot})
        await self.sync_once(0)
        if self.bot_membership is None:
            # Synced before joining (--encrypt): ask for the members instead.
            jm = await self.client.joined_members(room_id)
            if any(m.user_id == self.args.bot for m in getattr(jm, "members", [])):
                self.bot_membership = "join"
                self.bot_joined = True
                emit({"kind": "joined", "user_id": self.args.bot})
        if self.bot_membership not in ("join", "invite"):
            r = await self.client.room_invite(self.room_id, self.args.bot)
            if type(r).__name__ != "RoomInviteResponse":
                raise Failure("inviting %s to %s failed: %s" % (self.args.bot, room_id, r))
            emit({"kind": "invited", "user_id": self.args.bot})

    async def send_event(self, n, what, event_type, content, body):
        t_send = time.time()
        r = await self.client.room_send(
            self.room_id, event_type, content,
            tx_id="e2e-%d-%d" % (int(t_send * 1000), n),
            ignore_unverified_devices=True,
        )
        if not getattr(r, "event_id", None):
            raise Failure("sending %s %d failed: %s" % (what, n, r))
        emit({"kind": "sent", "n": n, "what": what, "body": body, "event_id": r.event_id,
              "t_send": t_send, "t_sent": time.time()})

    async def send_text(self, n, body):
        await self.send_event(n, "text", "m.room.message", {"msgtype": "m.text", "body": body}, body)

    async def obey(self, n, cmd, rest):
        """Runs one stdin command (not quit) as send number n."""
        if cmd == "send":
            await self.send_text(n, rest)
        elif cmd == "thread":
            root, _, body = rest.partition(" ")
            if not root.startswith("$"):
                raise Failure("thread: %r is not an event id" % root)
            await self.send_event(n, "thread", "m.room.message", {
                "msgtype": "m.text", "body": body,
                "m.relates_to": {"rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                                 "m.in_reply_to": {"event_id": root}},
            }, body)
        elif cmd == "react":
            target, _, key = rest.partition(" ")
            if not target.startswith("$") or not key:
                raise Failure("react: want EVENT_ID KEY, got %r" % rest)
            await self.send_event(n, "reaction", "m.reaction", {
                "m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key},
            }, key)
        elif cmd == "leave":
            resp = await self.client.room_leave(self.room_id)
            if type(resp).__name__ != "RoomLeaveResponse":
                raise Failure("leaving %s failed: %s" % (self.room_id, resp))
            self.follow_invites = True
            emit({"kind": "sent", "n": n, "what": "leave", "room_id": self.room_id, "t_sent": time.time()})
        elif cmd == "location":
            geo, _, body = rest.partition(" ")
            if not geo.startswith("geo:"):
                raise Failure("location: %r is not a geo: URI" % geo)
            await self.send_event(n, "location", "m.room.message",
                                  {"msgtype": "m.location", "body": body or geo, "geo_uri": geo}, body or geo)
        else:
            raise Failure("unknown command %r (want send, thread, react, location, leave or quit)" % cmd)

    async def sync_forever(self):
        # Bounded by the overall deadline; each round long-polls <= 1s.
        while self.remaining() > 0:
            await self.sync_once(1000)
        raise Failure("timed out after %ss in interactive mode (no quit command)" % self.args.timeout)

    async def interactive(self, base):
        """Keep one sync loop running and obey commands read from stdin, one
        per line, until "quit" or end of input (see the module docstring:
        send, thread, react, location; each answered by a "sent" line).

        Every event of the DM is printed as it arrives (with t_recv, the
        client's wall clock), so the driver decides what to wait for.
        """
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 16)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        syncer = asyncio.ensure_future(self.sync_forever())
        emit({"kind": "ready", "room_id": self.room_id})
        n = 0
        try:
            while True:
                line_task = asyncio.ensure_future(reader.readline())
                done, _ = await asyncio.wait({line_task, syncer}, return_when=asyncio.FIRST_COMPLETED)
                if syncer in done:
                    line_task.cancel()
                    syncer.result()  # raises the sync loop's failure
                    raise Failure("sync loop ended")
                raw = line_task.result()
                if not raw:
                    break  # end of input
                cmd, _, rest = raw.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
                if cmd == "quit":
                    break
                if cmd:
                    n += 1
                    await self.obey(n, cmd, rest)
        finally:
            syncer.cancel()
            try:
                await syncer
            except (asyncio.CancelledError, Failure):
                pass
        # One last short sync so that events already on the server are printed.
        await self.sync_once(0)
        emit({"kind": "done", "room_id": self.room_id, "replies": len(self.bot_messages) - base, "extra": 0})


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
    p.add_argument("--bot", required=True, help="e.g. @echo:localhost")
    p.add_argument("--messages", type=int, default=3, help="how many numbered messages to send (default 3)")
    p.add_argument("--text", default="message", help="message prefix; message i is '<text> <i>'")
    p.add_argument("--timeout", type=float, default=60, help="overall time limit in seconds (default 60)")
    p.add_argument("--settle", type=float, default=2, help="seconds to keep listening after the last reply (default 2)")
    p.add_argument("--one-by-one", action="store_true", help="wait for each reply before sending the next message")
    p.add_argument("--expect-echo", action="store_true", help="fail unless reply i contains message i's text")
    p.add_argument("--exact", action="store_true", help="fail if the bot sends more replies than messages")
    p.add_argument("--no-welcome", action="store_true", help="do not wait for a welcome message")
    p.add_argument("--room", default="",
                   help="use this existing room (e.g. a staff room) instead of opening a DM; "
                        "the bot is invited unless it is in it")
    p.add_argument("--interactive", action="store_true",
                   help="after the welcome, print 'ready', keep syncing and obey stdin commands "
                        "('send TEXT', 'quit'); --messages is ignored")
    p.add_argument("--encrypt", action="store_true",
                   help="end-to-end encryption: the DM is created with m.room.encryption in its initial "
                        "state, messages are encrypted, and a plaintext message from the bot is a failure")
    p.add_argument("--store", default="",
                   help="directory for the client's encryption keys (required with --encrypt)")
    args = p.parse_args()
    if args.encrypt and not args.store:
        p.error("--encrypt needs --store DIR")
    if args.messages < 0 or args.timeout <= 0:
        p.error("--messages must be >= 0 and --timeout > 0")
    sys.exit(asyncio.run(amain(args)))


if __name__ == "__main__":
    main()
