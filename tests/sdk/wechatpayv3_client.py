"""An independent API v3 client against the emulator: the Python SDK wechatpayv3 (PyPI, pinned
in tests/sdk/requirements.txt) places a JSAPI order, queries it, has it paid, takes the
payment callback with its own verification and decryption, refunds it and queries the refund.

Run by tests/cli/sdk.rs with the emulator's URLs and the merchant's key files; prints one JSON
object of what it saw, and exits non-zero at the first thing the SDK refuses.
"""

import http.server
import json
import queue
import sys
import threading
import urllib.request

from wechatpayv3 import WeChatPay, WeChatPayType

(base, control, private_key, serial, public_key, key_id, apiv3_key, appid, mchid, openid) = sys.argv[1:]

callbacks = queue.Queue()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        callbacks.put((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
notify_url = "http://127.0.0.1:%d/wxpay/notify" % server.server_port

wxpay = WeChatPay(
    wechatpay_type=WeChatPayType.JSAPI,
    mchid=mchid,
    private_key=open(private_key).read(),
    cert_serial_no=serial,
    appid=appid,
    apiv3_key=open(apiv3_key).read().strip(),
    notify_url=notify_url,
    public_key=open(public_key).read(),
    public_key_id=key_id,
    timeout=(5, 10),
)
# The SDK has WeChat Pay's host built in; the emulator serves the same paths.
wxpay._core._gate_way = base


def expect(what, code, message, status=200):
    if code != status:
        sys.exit("%s: HTTP %s %s" % (what, code, message))
    return json.loads(message) if message else {}


seen = {}
order = expect(
    "pay",
    *wxpay.pay(
        description="SDK check",
        out_trade_no="SDK-JSAPI-1",
        amount={"total": 1000, "currency": "CNY"},
        payer={"openid": openid},
    ),
)
seen["prepay_id"] = order["prepay_id"]
query = expect("query", *wxpay.query(out_trade_no="SDK-JSAPI-1"))
seen["state_before"] = query["trade_state"]

paid = urllib.request.Request(
    control + "orders/pay",
    data=json.dumps({"out_trade_no": "SDK-JSAPI-1"}).encode(),
    method="POST",
)
urllib.request.urlopen(paid, timeout=10).read()
headers, body = callbacks.get(timeout=10)
callback = wxpay.callback(headers, body)
if not callback:
    sys.exit("callback: the SDK did not verify it")
resource = callback["resource"]
seen["callback_event"] = callback["event_type"]
seen["callback_out_trade_no"] = resource["out_trade_no"]
seen["callback_trade_state"] = resource["trade_state"]
seen["callback_total"] = resource["amount"]["total"]

query = expect("query after paying", *wxpay.query(out_trade_no="SDK-JSAPI-1"))
seen["state_after"] = query["trade_state"]
refund = expect(
    "refund",
    *wxpay.refund(
        out_refund_no="SDK-R-1",
        amount={"refund": 300, "total": 1000, "currency": "CNY"},
        out_trade_no="SDK-JSAPI-1",
    ),
)
seen["refund_amount"] = refund["amount"]["refund"]
refunded = expect("query_refund", *wxpay.query_refund(out_refund_no="SDK-R-1"))
seen["refund_status"] = refunded["status"]
print(json.dumps(seen))
