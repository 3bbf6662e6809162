"""boto3 as an unmodified workload would use it: a default Session, whose credential chain
finds AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE in the
environment and asks the broker. Called by aws-clients.test.ts.

Usage: python3 boto3_caller_identity.py STS_ENDPOINT_URL

Prints one JSON object: the caller identity STS reports and the credential provider boto3
used. Credentials themselves are never printed.
"""

import json
import sys

import boto3


def main() -> None:
    endpoint_url = sys.argv[1]
    session = boto3.Session()
    credentials = session.get_credentials()
    identity = session.client("sts", endpoint_url=endpoint_url).get_caller_identity()
    print(
        json.dumps(
            {
                "UserId": identity["UserId"],
                "Account": identity["Account"],
                "Arn": identity["Arn"],
                "credentialMethod": credentials.method if credentials else None,
            }
        )
    )


if __name__ == "__main__":
    main()
