"""The README's pictures of printed pages, made from the sample city as an office would print them.

    python tools/readme_pictures.py        # needs LibreOffice (soffice) and poppler (pdftoppm)

Writes docs/images/户清单.png, 走访记录表.png and 月报.png: the sample data imported and
scanned as of 2026-11-20, the 金口岭社区 checklist and the year's report converted to PDF by
LibreOffice, one page of each rendered to PNG.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relief_cli.checklist import build_checklist  # noqa: E402
from relief_cli.config import load_config  # noqa: E402
from relief_cli.importer import import_paths  # noqa: E402
from relief_cli.pdf import write_pdf  # noqa: E402
from relief_cli.report import funnel  # noqa: E402
from relief_cli.report_sheet import write_report_xlsx  # noqa: E402
from relief_cli.scan import scan  # noqa: E402
from relief_cli.store import Store  # noqa: E402
from relief_cli.visit_sheet import write_visit_workbook  # noqa: E402

AS_OF = dt.date(2026, 11, 20)
OUT = ROOT / "docs" / "images"
DPI = "72"


def page_png(pdf: Path, page: int, target: Path) -> None:
    stem = target.with_suffix("")
    subprocess.run(["pdftoppm", "-r", DPI, "-png", "-singlefile", "-f", str(page), "-l", str(page), str(pdf), str(stem)],
                   check=True)
    print(f"{target.relative_to(ROOT)}：{pdf.name} 第 {page} 页")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with Store(work / "relief.db", load_config(ROOT / "rules.yaml")) as store:
            assert not import_paths(store, [ROOT / "sample_data"]).failures
            scan(store, AS_OF)
            cl = build_checklist(store, "金口岭", AS_OF)
            outcomes = store.config.settings.outcomes
            forms = work / "金口岭.pdf"
            write_pdf(forms, lambda p: write_visit_workbook(p, cl, outcomes, entry=False))
            book = write_visit_workbook(work / "金口岭.xlsx", cl, outcomes, entry=False)
            # The cover list of the grid with the most households; the form of the first household
            # with an alert and more than one member.
            pages, start, form = {}, 1, None
            for g in cl.grids:
                pages[g.grid] = start
                first_form = start + book.pages[g.grid] - len(g.households)
                for i, hh in enumerate(g.households):
                    if form is None and len(hh.members) > 1 and any(r.alert_id for r in hh.reasons):
                        form = first_form + i
                start += book.pages[g.grid]
            page_png(forms, pages[max(cl.grids, key=lambda x: len(x.households)).grid], OUT / "户清单.png")
            page_png(forms, form or 2, OUT / "走访记录表.png")
            report = work / "月报.pdf"
            write_pdf(report, lambda p: write_report_xlsx(p, funnel(store, dt.date(2026, 1, 1), AS_OF, "rule")))
            page_png(report, 1, OUT / "月报.png")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
