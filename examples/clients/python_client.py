"""A small image client as users write them: the official `openai` SDK, configured by the environment.

    OPENAI_BASE_URL=... OPENAI_API_KEY=... python python_client.py            # keeps the contract
    aiml-mock check -- python examples/clients/python_client.py              # the same, judged by the mock
    aiml-mock check -- python examples/clients/python_client.py --typo       # sends `qualty`: a violation

`--typo` sends `qualty` next to `quality`, a mistake the real API silently ignores (so the client "works"
and never gets the HD image it asked for); the mock answers it too, and records the violation.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request

import openai


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--typo", action="store_true", help="also send the misspelt field `qualty`")
    args = parser.parse_args(argv)
    client = openai.OpenAI(max_retries=0)  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment
    try:
        image = client.images.generate(
            model="dall-e-3", prompt="A lighthouse on a cliff at dusk, oil painting", size="1024x1024",
            quality="hd", extra_body={"qualty": "hd"} if args.typo else None,
        )
    except openai.APIStatusError as error:
        print(f"the API refused the request: {error.status_code} {error.body}", file=sys.stderr)
        return 1
    first = image.data[0] if image.data else None
    if first is None or not first.url:
        print("no image URL in the answer", file=sys.stderr)
        return 1
    with urllib.request.urlopen(first.url, timeout=30) as response:  # the URL expires: download it now
        size = len(response.read())
    print(f"downloaded {size} bytes; revised prompt: {first.revised_prompt}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
