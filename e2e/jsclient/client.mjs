// client.mjs: a second real encrypting Matrix client for the bizbots
// end-to-end tests: matrix-js-sdk with its Rust crypto
// (@matrix-org/matrix-sdk-crypto-wasm, the crypto core of Element X).
//
// It speaks the protocol of e2e/client.py --interactive --encrypt, so the
// Go harness (harness.StartClientSession) drives it unchanged: it logs in
// with a password, initialises Rust crypto with an in-memory store, opens
// a DM with the bot with m.room.encryption in its initial state, waits for
// the bot's join and welcome, prints {"kind":"ready"}, then obeys stdin
// commands ("send TEXT", answered by a "sent" line; "status", answered by
// "botdevice" lines and a "status" line; "quit"). Every
// event of the DM is printed as one JSON line on stdout. It fails (exit 1,
// an "error" line) on any plaintext message from the bot, on any message
// that is still undecryptable after --decrypt-wait seconds, and when its
// --timeout passes. Everything the SDK logs goes to stderr.
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

// The SDK and the Rust crypto log through console: keep stdout for JSON.
for (const m of ["log", "info", "debug", "warn", "error", "trace"]) {
  console[m] = (...a) => process.stderr.write(a.map(String).join(" ") + "\n");
}

const sdk = await import("matrix-js-sdk");
const { logger } = await import("matrix-js-sdk/lib/logger.js");
const { AllDevicesIsolationMode, OnlySignedDevicesIsolationMode } = await import("matrix-js-sdk/lib/crypto-api/index.js");

const { values: args } = parseArgs({
  options: {
    homeserver: { type: "string" },
    user: { type: "string" },
    password: { type: "string" },
    bot: { type: "string" },
    messages: { type: "string", default: "0" }, // accepted for the harness; unused
    timeout: { type: "string", default: "120" },
    "decrypt-wait": { type: "string", default: "30" },
    "no-welcome": { type: "boolean", default: false },
    // Element's "exclude insecure devices" (MSC4153): keys only to, and
    // messages only from, cross-signed devices.
    "exclude-insecure-devices": { type: "boolean", default: false },
    interactive: { type: "boolean", default: false },
    encrypt: { type: "boolean", default: true }, // always on; accepted for symmetry with client.py
  },
  strict: true,
});

class Failure extends Error {}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function need(name) {
  if (!args[name]) throw new Failure(`--${name} is required`);
  return args[name];
}

const timeoutMs = Number(args.timeout) * 1000;
const decryptWaitMs = Number(args["decrypt-wait"]) * 1000;
const deadline = Date.now() + timeoutMs;

let failed = null; // the first failure seen by an event handler
function fail(msg) {
  if (!failed) failed = new Failure(msg);
}

// waitFor polls cond (cheap, in-memory) until it holds, a handler failed,
// or the overall deadline passed.
async function waitFor(what, cond) {
  while (!cond()) {
    if (failed) throw failed;
    if (Date.now() > deadline) throw new Failure(`timed out after ${args.timeout}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (failed) throw failed;
}

async function main() {
  if (!args.interactive) throw new Failure("only --interactive is implemented");
  logger.setLevel("warn");
  const hs = need("homeserver");
  const bot = need("bot");

  const anon = sdk.createClient({ baseUrl: hs });
  const login = await anon.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: need("user") },
    password: need("password"),
    initial_device_display_name: "bizbots-e2e-jsclient",
  });
  emit({ kind: "login", user_id: login.user_id, device_id: login.device_id });

  const client = sdk.createClient({
    baseUrl: hs,
    userId: login.user_id,
    deviceId: login.device_id,
    accessToken: login.access_token,
  });
  // Node has no IndexedDB: the Rust crypto keeps its store in memory.
  // The device lives as long as this process (one test session).
  await client.initRustCrypto({ useIndexedDB: false });
  const crypto = client.getCrypto();
  // Element X's default: room keys go to every device of the room's
  // members, verified or not, cross-signed or not (the bots' devices are
  // not cross-signed on Dendrite v0.13.8). This is also the SDK default;
  // set here so the test does not depend on it silently.
  crypto.setDeviceIsolationMode(
    args["exclude-insecure-devices"] ? new OnlySignedDevicesIsolationMode() : new AllDevicesIsolationMode(false),
  );
  crypto.globalBlacklistUnverifiedDevices = false;

  let roomId = null;
  let botJoined = false;
  const botMessages = [];
  const seen = new Set();
  const undecrypted = new Map(); // event id -> time first seen failing

  const handle = (ev) => {
    if (!roomId || ev.getRoomId() !== roomId) return;
    const id = ev.getId();
    if (!id || id.startsWith("~") || seen.has(id)) return; // local echo, or printed already
    if (ev.isBeingDecrypted() || ev.shouldAttemptDecryption()) return; // Decrypted fires later
    if (ev.isDecryptionFailure()) {
      if (!undecrypted.has(id)) {
        undecrypted.set(id, Date.now());
        process.stderr.write(`jsclient: cannot decrypt ${id} yet: ${ev.decryptionFailureReason}\n`);
      }
      return;
    }
    undecrypted.delete(id);
    seen.add(id);
    const content = ev.getContent() || {};
    const type = ev.getType();
    const out = {
      kind: "event",
      type,
      sender: ev.getSender(),
      event_id: id,
      origin_server_ts: ev.getTs(),
      room_id: roomId,
      t_recv: Date.now() / 1000,
      encrypted: ev.isEncrypted(),
    };
    if (type === "m.room.message") {
      out.body = content.body;
      out.msgtype = content.msgtype;
    } else if (type === "m.room.member") {
      out.state_key = ev.getStateKey();
      out.membership = content.membership;
    }
    emit(out);
    if (type === "m.room.member" && ev.getStateKey() === bot && content.membership === "join" && !botJoined) {
      botJoined = true;
      emit({ kind: "joined", user_id: bot });
    }
    if (type === "m.room.message" && ev.getSender() === bot) {
      if (!ev.isEncrypted()) fail(`the bot sent a plaintext message into an encrypted room: ${JSON.stringify(content.body)}`);
      botMessages.push(out);
    }
  };
  client.on(sdk.RoomEvent.Timeline, (ev) => handle(ev));
  client.on(sdk.MatrixEventEvent.Decrypted, (ev) => handle(ev));

  // Undecryptable events get decryptWaitMs to become readable (the room
  // key may arrive after the message); after that the client fails.
  const udTimer = setInterval(() => {
    for (const [id, since] of undecrypted) {
      if (Date.now() - since > decryptWaitMs) fail(`event ${id} still undecryptable after ${args["decrypt-wait"]}s`);
    }
  }, 500);

  // The first sync uploads the device's keys, as real clients do before
  // they open a chat, so the bot can share its room key with this device.
  const synced = new Promise((resolve) => {
    client.on(sdk.ClientEvent.Sync, (state) => {
      if (state === "PREPARED" || state === "SYNCING") resolve();
    });
  });
  await client.startClient({ initialSyncLimit: 20 });
  await synced;
  if (args["exclude-insecure-devices"]) {
    // In this mode the Rust crypto encrypts only once the sender's own
    // identity is set up, as it is for every Element X user: cross-sign
    // this device (Dendrite asks for the password to take the keys).
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: (makeRequest) =>
        makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: login.user_id }, password: args.password }),
    });
    emit({ kind: "cross_signed", user_id: login.user_id });
  }

  try {
    const resp = await client.createRoom({
      is_direct: true,
      invite: [bot],
      preset: "trusted_private_chat",
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    roomId = resp.room_id;
    emit({ kind: "room", room_id: roomId, bot });
    // Events of the room synced before roomId was known.
    const room = () => client.getRoom(roomId);
    await waitFor("the room in the client's sync", () => room() !== null);
    for (const ev of room().getLiveTimeline().getEvents()) handle(ev);

    await waitFor(`${bot} to join`, () => botJoined);
    if (!args["no-welcome"]) {
      await waitFor(`a welcome message from ${bot}`, () => botMessages.length >= 1);
      emit({ kind: "welcome", body: botMessages[0].body });
    }
    const base = botMessages.length;
    emit({ kind: "ready", room_id: roomId });

    const rl = createInterface({ input: process.stdin });
    const lines = rl[Symbol.asyncIterator]();
    let n = 0;
    for (;;) {
      const next = lines.next();
      let res;
      // Keep watching for failures and the deadline while stdin is idle.
      for (;;) {
        const tick = new Promise((r) => setTimeout(() => r(null), 200));
        res = await Promise.race([next, tick]);
        if (failed) throw failed;
        if (Date.now() > deadline) throw new Failure(`timed out after ${args.timeout}s in interactive mode (no quit command)`);
        if (res) break;
      }
      if (res.done) break;
      const raw = res.value;
      const sp = raw.indexOf(" ");
      const cmd = sp < 0 ? raw : raw.slice(0, sp);
      const rest = sp < 0 ? "" : raw.slice(sp + 1);
      if (cmd === "quit") break;
      if (!cmd) continue;
      if (cmd === "status") {
        await emitBotStatus(crypto, bot);
        continue;
      }
      if (cmd !== "send") throw new Failure(`unknown command ${JSON.stringify(cmd)} (want send, status or quit)`);
      n++;
      // Never send in the clear: the SDK encrypts only in a room it knows
      // to be encrypted.
      if (!(await crypto.isEncryptionEnabledInRoom(roomId))) throw new Failure(`encryption is not enabled in ${roomId}`);
      const tSend = Date.now() / 1000;
      const r = await client.sendMessage(roomId, { msgtype: "m.text", body: rest });
      emit({ kind: "sent", n, what: "text", body: rest, event_id: r.event_id, t_send: tSend, t_sent: Date.now() / 1000 });
    }
    rl.close();
    // Events already on their way are printed; pending failures count.
    await new Promise((r) => setTimeout(r, 1000));
    if (failed) throw failed;
    if (undecrypted.size > 0) {
      const since = Math.min(...undecrypted.values());
      await waitFor("the last undecryptable events", () => undecrypted.size === 0 || Date.now() - since > decryptWaitMs);
      if (undecrypted.size > 0) throw new Failure(`${undecrypted.size} event(s) still undecryptable: ${[...undecrypted.keys()].join(", ")}`);
    }
    emit({ kind: "done", room_id: roomId, replies: botMessages.length - base, extra: 0 });
  } finally {
    clearInterval(udTimer);
    client.stopClient();
  }
}

// emitBotStatus prints what the Rust crypto believes of the bot's
// identity, fetched afresh from the homeserver: one "botdevice" line per
// device of the bot, with whether the bot has a cross-signing identity and
// whether the device is signed by it (its owner) — what
// OnlySignedDevicesIsolationMode (MSC4153) requires of a device.
async function emitBotStatus(crypto, bot) {
  const devices = await crypto.getUserDeviceInfo([bot], true);
  const hasKeys = await crypto.userHasCrossSigningKeys(bot, true);
  for (const deviceId of (devices.get(bot) || new Map()).keys()) {
    const st = await crypto.getDeviceVerificationStatus(bot, deviceId);
    emit({
      kind: "botdevice",
      user_id: bot,
      device_id: deviceId,
      cross_signing_keys: hasKeys,
      signed_by_owner: Boolean(st && st.signedByOwner),
    });
  }
  emit({ kind: "status", user_id: bot });
}

try {
  await main();
  process.exit(0);
} catch (e) {
  const msg = e instanceof Failure ? e.message : `${e?.name || "Error"}: ${e?.message || e}`;
  emit({ kind: "error", message: msg });
  process.stderr.write(`jsclient: FAIL: ${msg}\n`);
  process.exit(1);
}
