#!/usr/bin/env python3
"""Signs one request with botocore's SigV4Auth (the signer of Debian's awscli) and prints
the headers it added, for tests/unit/test_sigv4.c to compare with ours.

stdin: JSON {method, url, headers: [[name, value]...], body, region, service,
             access_key_id, secret_access_key, session_token (or null), time (UNIX seconds)}
stdout: JSON {authorization, x_amz_date, x_amz_security_token}"""
import datetime
import json
import sys

try:  # Debian's awscli vendors botocore as awscli.botocore and aliases it on import
    import awscli  # noqa: F401
except ImportError:
    pass
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    req = json.load(sys.stdin)
    fixed = datetime.datetime.utcfromtimestamp(req["time"])

    class FixedDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

    class FixedModule:
        datetime = FixedDatetime

    botocore.auth.datetime = FixedModule
    creds = Credentials(req["access_key_id"], req["secret_access_key"], req.get("session_token"))
    request = AWSRequest(method=req["method"], url=req["url"], data=req["body"].encode())
    for name, value in req["headers"]:
        request.headers[name] = value
    signer = SigV4Auth(creds, req["service"], req["region"])
    signer.add_auth(request)
    out = {
        "authorization": request.headers["Authorization"],
        "x_amz_date": request.headers["X-Amz-Date"],
        "x_amz_security_token": request.headers.get("X-Amz-Security-Token"),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
