"""``python -m conversations.whatsapp.sandbox``: serve the Graph API sandbox until Ctrl-C."""

from __future__ import annotations

import argparse
import logging

from . import serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m conversations.whatsapp.sandbox",
        description="Local stand-in for Meta's WhatsApp Cloud API (Graph API).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--webhook-url", default=None, help="where status/inbound webhooks go")
    parser.add_argument("--app-secret", default="", help="signs webhooks (X-Hub-Signature-256)")
    parser.add_argument("--status-delay", type=float, default=0.05, help="seconds between statuses")
    parser.add_argument(
        "--statuses",
        default="sent,delivered,read",
        help="comma-separated statuses sent after each accepted message ('' for none)",
    )
    parser.add_argument("--public-url", default=None, help="base URL put in media URLs")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    serve_forever(
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url,
        app_secret=args.app_secret,
        status_delay=args.status_delay,
        auto_statuses=tuple(s for s in args.statuses.split(",") if s),
        public_url=args.public_url,
    )


if __name__ == "__main__":
    main()
