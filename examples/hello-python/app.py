"""A tiny Lambda handler used by `make demo` and the README's quick start."""

import json
import os


def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": os.environ.get("GREETING", "hello"), "path": (event or {}).get("rawPath", "/")}),
    }
