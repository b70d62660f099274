"""Instructions per request of admit's application against the ceiling's, counted by callgrind:
exact where timings on a shared machine are not.

    .venv/bin/python bench/bench_instructions.py [--requests 2000] [--review NAME ...] [--parts]

Both ASGI applications are driven in-process, as uvicorn calls them (the scope it builds, the
body in one message), with no server around them: the server stack is the same for both (see
bench_server.py), and its timers and threads would make the counts depend on wall time. admit's
app runs the seed bundle with metrics and the decision log on, the ceiling's only parses the
review and answers a fixed allow. Each figure is (instructions of N requests - instructions of
none) / N, user space, under valgrind's callgrind (Debian package `valgrind`); the same code
gives the same counts on any run, so a change of a few hundred instructions is visible.

`--parts` also counts admit's app with its observers taken away one by one (the decision log,
then the metrics and the rule-error check), and the ceiling's app decoding with admit's decoder
instead of orjson, so that each part's cost per request is a difference of two counts: the
budget by part.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_server import FIXTURE, REVIEWS, ROOT, review_body
from callgrind import per_call

FIXTURES = FIXTURE.parent
WARM_UP = 200


# admit's app as served (`admit`) and with parts taken away, for `--parts`
VARIANTS = ("admit", "admit-no-log", "admit-bare", "admit-decode")


def application(kind: str, log: Path) -> Any:
    """admit's app (seed bundle, metrics, decision log to `log`), a VARIANT of it, or the
    ceiling's."""
    sys.path.insert(0, str(ROOT / "src"))
    if kind == "ceiling":
        sys.path.insert(0, str(ROOT / "bench"))
        from ceiling import allow_app

        return allow_app
    from admit.loading.loader import load_bundle
    from admit.server.app import AdmitApp
    from admit.server.decision_log import DecisionLog
    from admit.server.metrics import Metrics
    from admit.server.policies import FixedPolicies

    policies = FixedPolicies(load_bundle(ROOT / "examples/seed"))
    from admit.server.observers import rule_errors

    if kind == "admit-decode":  # the ceiling's app with admit's decoder
        return decode_app
    if kind == "admit-bare":  # decode, evaluate, encode: no observer, no metrics
        return AdmitApp(policies)
    metrics = Metrics(None)
    watching = [metrics.observe, rule_errors]
    if kind == "admit":
        watching.append(DecisionLog(str(log)).record)
    return AdmitApp(policies, metrics=metrics, observers=watching)


async def decode_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ceiling's app (bench/ceiling.py) with admit's decoder instead of `orjson.loads`."""
    import orjson

    from admit.server.admission import decode_review

    body = (await receive())["body"]
    api_version, request = decode_review(body)
    answer = {"uid": request["uid"], "allowed": True}
    body = orjson.dumps({"apiVersion": api_version, "kind": "AdmissionReview", "response": answer})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def drive(kind: str, review: str, count: int) -> None:
    """Answer `count` requests (after a warm-up), each as uvicorn would call the app."""
    body = review_body(FIXTURES / f"{review}.json")
    with tempfile.TemporaryDirectory() as tmp:
        app = application(kind, Path(tmp) / "decisions.jsonl")
        headers = [
            (b"host", b"127.0.0.1:8443"),
            (b"user-agent", b"kube-apiserver-admission"),
            (b"content-length", str(len(body)).encode()),
            (b"accept", b"application/json, */*"),
            (b"content-type", b"application/json"),
            (b"accept-encoding", b"gzip"),
        ]
        message = {"type": "http.request", "body": body, "more_body": False}
        answers = []

        async def receive() -> dict[str, Any]:
            return message

        async def send(event: dict[str, Any]) -> None:
            answers.append(event.get("status"))

        for _ in range(WARM_UP + count):
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "scheme": "https",
                "method": "POST",
                "path": "/validate",
                "raw_path": b"/validate",
                "query_string": b"timeout=10s",
                "root_path": "",
                "headers": headers,
                "server": ("127.0.0.1", 8443),
                "client": ("127.0.0.1", 50000),
            }
            coroutine = app(scope, receive, send)
            try:  # noqa: SIM105 (contextlib.suppress would add its cost to every figure)
                coroutine.send(None)  # nothing in either app waits on I/O here
            except StopIteration:
                pass
            if answers[-2] != 200:
                raise RuntimeError(f"{kind} answered {answers[-2]}")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="N, requests per figure")
    parser.add_argument(
        "--review",
        action="append",
        default=[],
        help="a recorded review's file name (without .json) in the fixtures; repeatable",
    )
    parser.add_argument("--parts", action="store_true", help="also admit's budget by part")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, review, count = args.child
        drive(kind, review, int(count))
        return
    kinds = ("ceiling", *(VARIANTS if args.parts else VARIANTS[:1]))
    rows = []
    for review in args.review or REVIEWS:
        figures = {}
        for kind in kinds:
            print(f"{review}: {kind} under callgrind...", file=sys.stderr, flush=True)
            figures[kind] = per_call(__file__, (kind, review), args.requests)
        rows.append((review, figures))
    print(f"User-space instructions per request of the application (N={args.requests}).\n")
    print("| review | ceiling app | admit app | admit - ceiling | admit/ceiling |")
    print("|---|---|---|---|---|")
    for review, f in rows:
        ceiling, admit = f["ceiling"], f["admit"]
        print(
            f"| {review} | {ceiling:,.0f} | {admit:,.0f} | {admit - ceiling:,.0f} "
            f"| {admit / ceiling:.2f}x |"
        )
    if not args.parts:
        return
    print("\nadmit's budget by part (differences of the counts above).\n")
    print(
        "| review | decode (admit's - orjson's) | evaluate, encode, routing | metrics + rule "
        "errors | decision log |"
    )
    print("|---|---|---|---|---|")
    for review, f in rows:
        print(
            f"| {review} | {f['admit-decode'] - f['ceiling']:,.0f} "
            f"| {f['admit-bare'] - f['admit-decode']:,.0f} "
            f"| {f['admit-no-log'] - f['admit-bare']:,.0f} | {f['admit'] - f['admit-no-log']:,.0f} |"
        )


if __name__ == "__main__":
    main()
