"""Benchmark: OCR throughput and memory, and proof that an OCR backlog does not delay replies (not a test).

Run:  .venv/bin/python bench/ocr.py [--images 10] [--pdf-pages 10] [--replies 30] [--backlog 50]

1. Phase "ocr" (in-process, no database): ``documents.ocr.document_read`` over generated
   one-page invoice images (Pillow-drawn, as in the tests) and over a ``--pdf-pages`` scanned
   PDF without a text layer (every page rendered by poppler's pdftoppm, then tesseract
   eng+hin). Prints pages per minute and peak memory: this process's (Python, Pillow) and
   the largest child's (tesseract, pdftoppm run as subprocesses). Then the small-angle
   deskew: the drawn invoice turned by each of ``--skew-angles`` degrees is read with and
   without it; prints how many pages give the drawn invoice number, amount and GSTIN either
   way, the angle estimate's error, and the time the deskew adds to a page.
2. Phase "replies" (end to end, as the Procfile runs it): granian + the "replies" worker
   (ingest, engine, send queues) + the "background" worker (default and documents queues)
   + the Graph API sandbox. ``--replies`` inbound texts matching a keyword rule are posted
   one at a time and the webhook-to-reply time is measured; then ``--backlog`` documents
   are queued for OCR and the same is measured again while the background worker reads
   them. The backlog's progress during the second run is printed too.

Needs PostgreSQL and Redis reachable as for `make test` (scripts/services.py finds them),
and Debian's tesseract-ocr(-eng,-hin) and poppler-utils (`make run` installs them).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import log, percentile, recreate_database, services_env, start, stop, wait_http  # noqa: E402
from bizmitra.queues import queues_arg  # noqa: E402

BENCH_DB = "bizmitra_bench_ocr"
SCHEMA = "benchocr"
PHONE_NUMBER_ID = "900000000000078"
APP_SECRET = "bench-ocr-secret"
PREFIX = f"bizmitra-bench-ocr-{os.getpid()}"
REPLY_TIMEOUT = 30.0


def figures(label: str, values: list[float], unit: str = "ms") -> str:
    if not values:
        return f"  {label:<34} no samples"
    return (
        f"  {label:<34} p50 {statistics.median(values):8.1f} {unit}   p95 {percentile(values, 95):8.1f} {unit}"
        f"   max {max(values):8.1f} {unit}   (n={len(values)})"
    )


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


class ChildMemory:
    """Peak resident memory of this process's children (tesseract, pdftoppm), sampled from /proc.

    ``RUSAGE_CHILDREN`` cannot tell: a child's maximum includes the parent's pages it had
    between fork and exec.
    """

    def __init__(self) -> None:
        import threading

        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ChildMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(0.02):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
                if fields.get("PPid", "").strip() == me and "VmRSS" in fields:
                    self.peak_kb = max(self.peak_kb, int(fields["VmRSS"].split()[0]))


def ocr_phase(args) -> None:
    from documents import ocr
    from documents.tests.samples import Invoice, invoice_png, scanned_pdf

    limits = ocr.Limits(max_pages=max(20, args.pdf_pages), max_pixels=40_000_000, seconds_per_page=120)
    ocr.threads_limit(args.ocr_threads)
    images = [invoice_png(Invoice(number=f"INV-{i:04d}")) for i in range(args.images)]
    print()
    print(f"== OCR on this machine (tesseract eng+hin, {args.ocr_threads} thread(s), in-process) ==")
    children = ChildMemory().__enter__()
    t0 = time.monotonic()
    per_page = []
    for data in images:
        p0 = time.monotonic()
        ocr.document_read(data, mime_type="image/png", languages="eng+hin", limits=limits)
        per_page.append((time.monotonic() - p0) * 1000)
    elapsed = time.monotonic() - t0
    print(f"  one-page images: {len(images)} pages in {elapsed:.1f} s = {len(images) / elapsed * 60:.1f} pages/min")
    print(figures("  per image", per_page))
    pdf = scanned_pdf(Invoice(), pages=args.pdf_pages)
    t0 = time.monotonic()
    pages = ocr.document_read(pdf, mime_type="application/pdf", languages="eng+hin", limits=limits)
    elapsed = time.monotonic() - t0
    assert all(p.method == "ocr" for p in pages)
    print(
        f"  scanned PDF: {len(pages)} pages in {elapsed:.1f} s = {len(pages) / elapsed * 60:.1f} pages/min"
        f" ({len(pdf) / 1024:.0f} KiB, rendered at {ocr.RENDER_DPI} dpi)"
    )
    children.__exit__(None, None, None)
    print(
        f"  peak memory: this process {_peak_mb(resource.RUSAGE_SELF):.0f} MB (Django, Pillow, pypdf),"
        f" largest tesseract/pdftoppm child {children.peak_kb / 1024:.0f} MB"
    )
    skew_phase(args, limits)


def skew_phase(args, limits) -> None:
    """Skewed pages read with and without the small-angle deskew (issue 12 §2)."""
    from documents import ocr
    from documents.extraction import extract
    from documents.tests.samples import Invoice, invoice_png, skewed_invoice_png

    invoice = Invoice()
    drawn = {"invoice_number": invoice.number, "amount": invoice.total_value, "gstin": invoice.gstin}

    def read_right(image, *, deskew: bool) -> tuple[bool, float]:
        t0 = time.monotonic()
        page = ocr.image_ocr(image, languages="eng+hin", limits=limits, deskew=deskew)
        elapsed = (time.monotonic() - t0) * 1000
        found: dict[str, str] = {}
        for item in extract([(page.text, page.confidence)]).fields:
            found.setdefault(item.name, item.value)
        return all(found.get(name) == value for name, value in drawn.items()), elapsed

    angles = [float(a) for a in args.skew_angles.split(",") if a.strip()]
    print()
    print(f"== small-angle deskew: the drawn invoice turned by {', '.join(f'{a:g}' for a in angles)} degrees ==")
    right = {True: 0, False: 0}
    errors, estimate_ms, with_ms, without_ms = [], [], [], []
    for degrees in angles:
        image = ocr.image_open(skewed_invoice_png(invoice, degrees=degrees), limits=limits)
        t0 = time.monotonic()
        errors.append(abs(ocr.skew_angle(image) - degrees))
        estimate_ms.append((time.monotonic() - t0) * 1000)
        for deskew, times in ((True, with_ms), (False, without_ms)):
            ok, elapsed = read_right(image, deskew=deskew)
            right[deskew] += ok
            times.append(elapsed)
    print(
        f"  number, amount and GSTIN all right: {right[True]} of {len(angles)} pages with the deskew,"
        f" {right[False]} of {len(angles)} without"
    )
    print(f"  angle estimate error: mean {statistics.mean(errors):.2f}, max {max(errors):.2f} degrees")
    print(figures("angle search (per page)", estimate_ms))
    print(figures("skewed page, with the deskew", with_ms))
    print(figures("skewed page, without", without_ms))
    level = ocr.image_open(invoice_png(invoice), limits=limits)
    level_with, level_without = [], []
    for _ in range(args.skew_repeats):
        level_with.append(read_right(level, deskew=True)[1])
        level_without.append(read_right(level, deskew=False)[1])
    print(figures("level page, with the deskew", level_with))
    print(figures("level page, without", level_without))


def replies_phase(args, env: dict[str, str], keyword: str) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from django_tenants.utils import schema_context

    from conversations.whatsapp.sandbox import GraphSandbox
    from documents.models import Document
    from documents.services import document_create_from_upload
    from documents.tests.samples import Invoice, invoice_png

    logdir = ROOT / "var" / "bench-logs"
    web_url = f"http://127.0.0.1:{args.port}"
    sandbox = GraphSandbox(webhook_url=f"{web_url}/webhooks/whatsapp/", app_secret=APP_SECRET, auto_statuses=())
    sandbox.start()
    sandbox.register_number(PHONE_NUMBER_ID, "bench-token")
    env = {**env, "WHATSAPP_GRAPH_URL": sandbox.base_url}
    granian = [str(ROOT / ".venv" / "bin" / "granian"), "--interface", "wsgi", "--host", "127.0.0.1"]
    granian += ["--port", str(args.port), "--workers", "2", "--log-level", "warning", "bizmitra.wsgi:application"]
    common = ["-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    celery = [sys.executable, "-m", "celery", "-A", "bizmitra", "worker"]
    web = start(granian, env, "ocr-granian", logdir)
    replies = start(
        celery
        + ["-Q", queues_arg(PREFIX, ("ingest", "engine", "send")), "--concurrency", "2", "-n", "replies@bench"]
        + common,
        env,
        "ocr-replies-worker",
        logdir,
    )
    background = start(
        celery
        + ["-Q", queues_arg(PREFIX, ("default", "documents")), "--concurrency", "1", "-n", "background@bench"]
        + common,
        env,
        "ocr-background-worker",
        logdir,
    )
    try:
        wait_http(f"{web_url}/healthz")
        time.sleep(3)  # the workers' pools

        def timed(label: str) -> list[float]:
            latencies, missing = [], 0
            for i in range(args.replies):
                wa_id = "1998" + str(uuid.uuid4().int)[:9]
                before = len(sandbox.sent_messages)
                t0 = time.monotonic()
                injected = sandbox.inject_text(PHONE_NUMBER_ID, wa_id, f"{keyword} please ({label} {i})")
                assert injected.status_code == 200, injected
                reply = None
                while reply is None and time.monotonic() < t0 + REPLY_TIMEOUT:
                    reply = next((r for r in sandbox.sent_messages[before:] if r["wa_id"] == wa_id), None)
                    if reply is None:
                        time.sleep(0.002)
                if reply is None:
                    missing += 1
                else:
                    latencies.append((reply["received_at"] - t0) * 1000)
            print(figures(label, latencies) + (f"   no reply: {missing}" if missing else ""))
            return latencies

        def backlog() -> tuple[int, int]:
            with schema_context(SCHEMA):
                done = Document.objects.filter(status__in=("done", "failed")).count()
                return done, Document.objects.count()

        print()
        print("== inbound text -> reply at the Graph sandbox, with and without an OCR backlog ==")
        timed("no documents queued")
        page = invoice_png(Invoice())
        with schema_context(SCHEMA):
            for i in range(args.backlog):
                document_create_from_upload(upload=SimpleUploadedFile(f"scan-{i}.png", page))
        connection.close()
        t0 = time.monotonic()
        timed(f"{args.backlog} documents queued")
        done, total = backlog()
        print(f"  backlog while measuring: {done} of {total} documents read in {time.monotonic() - t0:.1f} s")
        deadline = time.monotonic() + args.backlog * 20
        while done < total and time.monotonic() < deadline:
            time.sleep(1)
            done, total = backlog()
        elapsed = time.monotonic() - t0
        print(f"  whole backlog: {done} of {total} read in {elapsed:.1f} s = {done / elapsed * 60:.1f} documents/min")
    finally:
        stop(background)
        stop(replies)
        stop(web)
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10, help="one-page images OCR'd in-process")
    parser.add_argument("--pdf-pages", type=int, default=10, help="pages of the scanned PDF")
    parser.add_argument("--replies", type=int, default=30, help="text round trips per measurement")
    parser.add_argument("--backlog", type=int, default=50, help="documents queued before the second measurement")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--skip-ocr", action="store_true", help="only the replies phase")
    parser.add_argument("--ocr-threads", type=int, default=1, help="tesseract threads (DOCUMENTS_OCR_THREADS)")
    parser.add_argument(
        "--skew-angles", default="-8,-6,-4,-2,2,4,6,8", help="degrees the skewed pages are turned by (comma-separated)"
    )
    parser.add_argument("--skew-repeats", type=int, default=5, help="level-page reads with and without the deskew")
    parser.add_argument("--skip-replies", action="store_true", help="only the OCR phase (no database, no servers)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    args = parser.parse_args()

    found = services_env(BENCH_DB)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bizmitra.settings.base",
        DATABASE_URL=urlsplit(found["DATABASE_URL"])._replace(path=f"/{BENCH_DB}").geturl(),
        REDIS_URL=found["REDIS_URL"],
        DEBUG="false",
        LOG_LEVEL="WARNING",
        META_APP_SECRET=APP_SECRET,
        REDIS_KEY_PREFIX=PREFIX,
        CELERY_TASK_DEFAULT_QUEUE=PREFIX,
        MEDIA_ROOT=str(ROOT / "var" / "bench-media" / PREFIX),
        DOCUMENTS_OCR_THREADS=str(args.ocr_threads),
        ALLOWED_HOSTS="*",
        PYTHONUNBUFFERED="1",
    )
    os.environ.update(env)
    (ROOT / "var" / "bench-logs").mkdir(parents=True, exist_ok=True)

    import django

    django.setup()
    if not args.skip_ocr:
        ocr_phase(args)
    if args.skip_replies:
        return

    log(f"scratch database {BENCH_DB}")
    recreate_database(env["DATABASE_URL"], BENCH_DB)
    import subprocess

    subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--shared", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    import redis
    from django.db import connection
    from django_tenants.utils import schema_context

    from bizmitra.queues import queue_names
    from tenants.services import public_tenant_ensure, tenant_onboard

    public_tenant_ensure(domain="localhost")
    tenant_onboard(
        name="OCR Bench",
        schema_name=SCHEMA,
        domain="ocr.localhost",
        phone_number_id=PHONE_NUMBER_ID,
        access_token="bench-token",
        owner_email="owner@ocr.localhost",
        owner_password="bench-password",
        client_code="OCRBENCH",
    )
    keyword = "zqbenchinvoice"
    with schema_context(SCHEMA):
        from templates.models import FlowRule, MessageTemplate

        template = MessageTemplate.objects.create(name="Invoice help", body="Send us your invoice, {{first_name}}.")
        FlowRule.objects.create(name="Invoice help", pattern=keyword, template=template, priority=50)
    connection.close()
    try:
        replies_phase(args, env, keyword)
    finally:
        redis.Redis.from_url(env["REDIS_URL"]).delete(*queue_names(PREFIX).values())
        connection.close()
        if not args.keep:
            recreate_database(env["DATABASE_URL"], BENCH_DB, create=False)


if __name__ == "__main__":
    main()
