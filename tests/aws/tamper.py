#!/usr/bin/env python3
"""SigV4 tampering against the KMS emulator, with botocore (Debian's awscli) as the
independent signer: a correctly signed GenerateRandom, then the same request with one
thing changed after signing. Prints "CASE STATUS TYPE" per case.

usage: tamper.py URL CA_PEM REGION AKID SECRET TOKEN|-"""
import datetime
import json
import ssl
import sys
import urllib.error
import urllib.request

try:
    import awscli  # noqa: F401  (Debian's awscli vendors botocore)
except ImportError:
    pass
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

URL, CA, REGION, AKID, SECRET, TOKEN = sys.argv[1:7]
TOKEN = None if TOKEN == "-" else TOKEN
CTX = ssl.create_default_context(cafile=CA)
BODY = b'{"NumberOfBytes":16}'


def signed(akid=AKID, secret=SECRET, token=TOKEN, when=None):
    if when is not None:
        class Fixed(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return when

        class Mod:
            datetime = Fixed

        old = botocore.auth.datetime
        botocore.auth.datetime = Mod
    req = AWSRequest(method="POST", url=URL + "/", data=BODY,
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": "TrentService.GenerateRandom"})
    SigV4Auth(Credentials(akid, secret, token), "kms", REGION).add_auth(req)
    if when is not None:
        botocore.auth.datetime = old
    return dict(req.headers.items()), BODY


def send(headers, body):
    req = urllib.request.Request(URL + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, context=CTX, timeout=10) as r:
            return r.status, json.loads(r.read()).get("__type", "-")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()).get("__type", "?")


def case(name, headers, body):
    status, typ = send(headers, body)
    print(name, status, typ)


def main():
    h, b = signed()
    case("control", h, b)
    case("body", h, b'{"NumberOfBytes":17}')
    case("target", dict(h, **{"X-Amz-Target": "TrentService.Encrypt"}), b)
    date = h["X-Amz-Date"]
    later = (datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ") + datetime.timedelta(seconds=1))
    case("date", dict(h, **{"X-Amz-Date": later.strftime("%Y%m%dT%H%M%SZ")}), b)
    auth = h["Authorization"]
    flipped = auth[:-1] + ("0" if auth[-1] != "0" else "1")
    case("signature", dict(h, Authorization=flipped), b)
    case("signed-headers", dict(h, Authorization=auth.replace("SignedHeaders=", "SignedHeaders=content-length;")), b)
    old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    case("expired", *signed(when=old))
    case("wrong-secret", *signed(secret=SECRET + "x"))
    case("unknown-akid", *signed(akid="AKIDUNKNOWN00000"))
    case("wrong-token", *signed(token=(TOKEN or "") + "x"))
    if TOKEN:
        nh = {k: v for k, v in signed(token=None)[0].items()}
        case("no-token", nh, b)
    nh = {k: v for k, v in h.items() if k != "Authorization"}
    case("no-authorization", nh, b)


if __name__ == "__main__":
    main()
