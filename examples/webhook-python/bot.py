"""A bizbots webhook bot in Python with only the standard library.

Run: BIZBOTS_SECRET=whsec_... [BIZBOTS_TOKEN=bzb_...] python3 bot.py [port]
"""
import base64, hashlib, hmac, json, os, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = base64.b64decode(os.environ["BIZBOTS_SECRET"].removeprefix("whsec_"))
TOKEN = os.environ.get("BIZBOTS_TOKEN", "")

def verified(headers, body):
    msg_id, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "0")
    if abs(time.time() - int(ts)) > 300:
        return False  # stale: a replay
    mac = hmac.new(SECRET, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    want = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(want, s) for s in headers.get("webhook-signature", "").split())

def send_later(url, customer, text):  # answer later through the Send API
    time.sleep(2)
    req = urllib.request.Request(url, json.dumps({"to": customer, "text": text}).encode(), method="POST",
        headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json", "Idempotency-Key": text})
    urllib.request.urlopen(req, timeout=10).close()

class Bot(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not verified(self.headers, body):
            return self.send_error(401)
        ev = json.loads(body); d = ev["data"]; text = (d.get("message") or {}).get("text", "")
        print("event", ev["type"], d["customer"]["id"], flush=True)
        replies = []
        if ev["type"] == "conversation.started":
            replies = [{"text": f"Hi {d['customer']['display_name']}! I am the Python bakery."}]
        elif ev["type"] == "message":
            replies = [{"text": "Bread or cake?", "choices": [{"key": "bread", "label": "Bread"}, {"key": "cake", "label": "Cake"}]}]
        elif ev["type"] == "choice":
            replies = [{"text": f"One {d['message']['choice']['key']}, coming up!"}]
            if TOKEN and d.get("reply_url"):
                threading.Thread(target=send_later, args=(d["reply_url"], d["customer"]["id"], f"Your {d['message']['choice']['key']} is ready.")).start()
        out = json.dumps({"replies": replies}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers(); self.wfile.write(out)

HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8090), Bot).serve_forever()
