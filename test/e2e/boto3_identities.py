"""boto3 as an unmodified workload uses it: a Session whose credential chain finds either the
container-credentials variables (AWS_CONTAINER_CREDENTIALS_FULL_URI +
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) or a profile with credential_process in AWS_CONFIG_FILE.
Called by the e2e tests.

Usage: python3 boto3_identities.py STS_ENDPOINT_URL [--profile NAME ...] [--calls N] [--sleep SECONDS]

For each profile (or the default chain when none is given) it makes N GetCallerIdentity calls
with one client, SECONDS apart, and prints one JSON object: per call the identity STS reports
and a fingerprint of the access key id that signed the call (so a test sees a refresh), and the
credential provider boto3 used. Credentials themselves are never printed.
"""

import argparse
import hashlib
import json
import re
import time

import boto3


def fingerprint(access_key_id: str) -> str:
    return hashlib.sha256(access_key_id.encode()).hexdigest()[:16]


def identities(endpoint_url: str, profile: str | None, calls: int, pause: float) -> dict:
    session = boto3.Session(profile_name=profile)
    client = session.client("sts", endpoint_url=endpoint_url)
    signing_keys: list[str] = []

    def record_signing_key(request, **_kwargs) -> None:
        authorization = request.headers.get("Authorization", b"")
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        match = re.search(r"Credential=([^/]+)/", authorization)
        signing_keys.append(fingerprint(match.group(1)) if match else "")

    client.meta.events.register("before-send.sts.GetCallerIdentity", record_signing_key)
    results = []
    for index in range(calls):
        if index > 0:
            time.sleep(pause)
        identity = client.get_caller_identity()
        results.append(
            {
                "UserId": identity["UserId"],
                "Account": identity["Account"],
                "Arn": identity["Arn"],
                "signingKey": signing_keys[-1],
            }
        )
    credentials = session.get_credentials()
    return {
        "profile": profile,
        "credentialMethod": credentials.method if credentials else None,
        "calls": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint_url")
    parser.add_argument("--profile", action="append")
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    profiles = args.profile or [None]
    print(json.dumps([identities(args.endpoint_url, p, args.calls, args.sleep) for p in profiles]))


if __name__ == "__main__":
    main()
