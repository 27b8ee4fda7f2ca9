// A bizbots webhook bot in Node.js with no dependencies.
// Run: BIZBOTS_SECRET=whsec_... [BIZBOTS_TOKEN=bzb_...] node bot.js [port]
const http = require("node:http");
const crypto = require("node:crypto");

const secret = Buffer.from(process.env.BIZBOTS_SECRET.replace(/^whsec_/, ""), "base64");
const token = process.env.BIZBOTS_TOKEN || "";

function verified(h, body) {
  const id = h["webhook-id"] || "", ts = h["webhook-timestamp"] || "0";
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false; // stale: a replay
  const want = Buffer.from("v1," + crypto.createHmac("sha256", secret).update(`${id}.${ts}.`).update(body).digest("base64"));
  return (h["webhook-signature"] || "").split(" ").some((s) => s.length === want.length && crypto.timingSafeEqual(Buffer.from(s), want));
}

async function sendLater(url, customer, text) { // answer later through the Send API
  await new Promise((r) => setTimeout(r, 2000));
  await fetch(url, { method: "POST", body: JSON.stringify({ to: customer, text }),
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json", "Idempotency-Key": text } });
}

http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c)).on("end", () => {
    const body = Buffer.concat(chunks);
    if (!verified(req.headers, body)) { res.writeHead(401).end(); return; }
    const ev = JSON.parse(body), d = ev.data;
    console.log("event", ev.type, d.customer.id);
    let replies = [];
    if (ev.type === "conversation.started") replies = [{ text: `Hi ${d.customer.display_name}! I am the Node florist.` }];
    else if (ev.type === "message") replies = [{ text: "Roses or tulips?", choices: [{ key: "roses", label: "Roses" }, { key: "tulips", label: "Tulips" }] }];
    else if (ev.type === "choice") {
      replies = [{ text: `A bunch of ${d.message.choice.key}, coming up!` }];
      if (token && d.reply_url) sendLater(d.reply_url, d.customer.id, `Your ${d.message.choice.key} are on their way.`).catch(console.error);
    }
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ replies }));
  });
}).listen(Number(process.argv[2] || 8091), "127.0.0.1");
