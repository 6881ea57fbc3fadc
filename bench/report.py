"""Benchmark: the fund allocations report against a bare reportlab canvas loop, same run.

Loads a fund with `--investors` × `--deals` allocations, then times
- the report's own path as its job runs it: rows streamed from PostgreSQL (server-side cursor,
  as the app role under RLS), rendered by `AllocationsReport` in a thread into a temporary file,
  uploaded to the object store (a local directory here);
- a bare canvas loop: reportlab's `Canvas` drawing the same rows (four `drawString`s a row) on
  as many pages, `showPage` per page, `save` at the end — no database, no upload.
Prints pages/s of each, their ratio (target ≥ 0.7) and the peak RSS growth of each.

    .venv/bin/python -m bench.report [--investors 2000] [--deals 100]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import tempfile
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import prorata.models  # noqa: F401 - every table, for the ORM's foreign keys
from bench.fund_data import create_org, load_fund
from bench.support import Timer, bench_database
from prorata.config import Settings
from prorata.documents import content, render
from prorata.pdf import writer as pdf
from prorata.platform import db, storage


class PeakRss:
    """Samples this process's resident memory every 10 ms; `growth` is peak − start, in MiB."""

    def __init__(self) -> None:
        self.start = self._rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _rss() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth(self) -> float:
        return (self.peak - self.start) / 2**20


async def report(settings: Settings, org_id: uuid.UUID, fund_id: uuid.UUID) -> tuple[int, int]:
    """The job's path; returns (pages, bytes)."""
    engine = db.create_engine(db.app_url(settings), pool_size=2)
    store = storage.open_store(settings)
    try:
        sessions = db.sessionmaker(engine)
        with tempfile.TemporaryFile() as out:
            async with db.tenant_transaction(sessions, org_id) as session:
                total = await content.allocation_count(session, fund_id=fund_id)
                writer = render.AllocationsReport(
                    out,
                    fund_name="Bench Growth Fund I",
                    currency="USD",
                    as_of=dt.date(2026, 6, 30),
                    total_rows=total,
                )
                async for batch in content.allocation_batches(session, fund_id=fund_id):
                    await asyncio.to_thread(writer.rows, batch)
            pages = await asyncio.to_thread(writer.finish)
            size = out.tell()
            out.seek(0)
            async with db.tenant_transaction(sessions, org_id) as session:
                await storage.save(
                    session,
                    store,
                    org_id=org_id,
                    purpose="bench",
                    source=out,
                    content_type="application/pdf",
                    suffix=".pdf",
                )
        return pages, size
    finally:
        await engine.dispose()


def canvas_loop(rows: int) -> tuple[int, int]:
    """The baseline: the same rows drawn with reportlab's canvas; returns (pages, bytes)."""
    from reportlab.pdfgen.canvas import Canvas

    cells = ("Limited Partner 0000001 Holdings LLC", "Series A round 1", "Portfolio Company 1 Inc.")
    amount = f"{Decimal('123456.78'):,}"
    with tempfile.NamedTemporaryFile(suffix=".pdf") as out:
        canvas = Canvas(out.name, pagesize=pdf.PAGE, invariant=1, pageCompression=1)
        pages = 0
        for start in range(0, rows, pdf.ROWS_PER_PAGE):
            y = pdf.PAGE[1] - 100
            canvas.setFont(pdf.REGULAR, pdf.FONT_SIZE)
            for _ in range(min(pdf.ROWS_PER_PAGE, rows - start)):
                canvas.drawString(36, y, cells[0])
                canvas.drawString(286, y, cells[1])
                canvas.drawString(476, y, cells[2])
                canvas.drawRightString(802, y, amount)
                y -= pdf.LEADING
            canvas.showPage()
            pages += 1
        canvas.save()
        return pages, Path(out.name).stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--investors", type=int, default=2000)
    parser.add_argument("--deals", type=int, default=100)
    args = parser.parse_args()
    rows = args.investors * args.deals
    with bench_database() as base, tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(**{**base.model_dump(), "data_dir": Path(data_dir)})
        owner = db.owner_url(settings)
        org_id = create_org(owner)
        with Timer() as load:
            fund_id = load_fund(owner, org_id=org_id, investors=args.investors, deals=args.deals)
        print(f"loaded {rows:,} allocations in {load.seconds:.0f} s")
        with PeakRss() as report_rss, Timer() as report_time:
            pages, size = asyncio.run(report(settings, org_id, fund_id))
        with PeakRss() as canvas_rss, Timer() as canvas_time:
            canvas_pages, canvas_size = canvas_loop(rows)
    report_rate = pages / report_time.seconds
    canvas_rate = canvas_pages / canvas_time.seconds
    print(
        f"fund report:  {pages:,} pages, {size / 2**20:.1f} MiB in {report_time.seconds:.1f} s"
        f" = {report_rate:,.0f} pages/s, peak RSS +{report_rss.growth:.0f} MiB"
    )
    print(
        f"canvas loop:  {canvas_pages:,} pages, {canvas_size / 2**20:.1f} MiB in "
        f"{canvas_time.seconds:.1f} s = {canvas_rate:,.0f} pages/s, "
        f"peak RSS +{canvas_rss.growth:.0f} MiB"
    )
    print(f"ratio (report / canvas pages/s): {report_rate / canvas_rate:.2f}  (target >= 0.7)")


if __name__ == "__main__":
    main()
