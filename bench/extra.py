"""Extra CAMHS-shaped mock agencies for ``bench/growth.py``: ``--copies`` of them on consecutive ports,
each answering ``--referrals`` referrals for any NHS number (so list sizes and agency counts can grow).

    python -m bench.extra --copies 8 --referrals 1 --base-port 9300
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hmac

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KEY = "dev-camhs-key"


def app(name: str, referrals: int) -> Starlette:
    def records(nhs: str) -> list[dict[str, object]]:
        opened = dt.date(2024, 1, 1)
        return [
            {
                "referral_id": f"{name}-{nhs}-{i}",
                "nhs_number": nhs,
                "referral_status": "OPEN" if i % 3 else "CLOSED",
                "opened_date": (opened + dt.timedelta(days=i)).strftime("%m/%d/%Y"),
                "clinician": {
                    "clinician_id": f"P9{i:05d}",
                    "full_name": f"Clinician {i}",
                    "team": name,
                    "phone": "01632 000000",
                },
            }
            for i in range(referrals)
        ]

    async def referrals_route(request: Request) -> Response:
        if not hmac.compare_digest(request.headers.get("x-api-key", ""), KEY):
            return Response(b'{"error": "unauthorised"}', 401, media_type="application/json")
        nhs = request.query_params.get("nhs_number", "")
        return Response(orjson.dumps({"referrals": records(nhs)}), media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status": "up"}', media_type="application/json")

    return Starlette(routes=[Route("/camhs/v1/referrals", referrals_route), Route("/health", health)])


async def serve(copies: int, referrals: int, base_port: int) -> None:
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                app(f"extra-{i + 1}", referrals),
                host="127.0.0.1",
                port=base_port + i,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        for i in range(copies)
    ]
    await asyncio.gather(*(s.serve() for s in servers))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--referrals", type=int, default=1)
    ap.add_argument("--base-port", type=int, default=9300)
    args = ap.parse_args()
    asyncio.run(serve(args.copies, args.referrals, args.base_port))


if __name__ == "__main__":
    main()
