"""What grid workers and the 科长 print, judged printed: each workbook converted by LibreOffice
to PDF, and the PDF's text boxes (pdftotext -bbox) checked page by page.

LibreOffice and poppler come from the distribution (.ci/run installs them). Where they are
missing the tests are skipped with the reason, unless RELIEF_REQUIRE_PRINT=1 (as in CI),
where a missing tool fails them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from relief_cli.checklist import Checklist, GridList, Household, Member, Question, Reason, build_checklist
from relief_cli.config import load_config
from relief_cli.overdue import overdue
from relief_cli.privacy import Masker
from relief_cli.report import funnel
from relief_cli.store import Store
from relief_cli.visit_sheet import write_visit_workbook

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 11, 20)
CM = 28.35  # points
MIN_TEXT_PT = 10.0


def _tools_or_skip() -> None:
    from relief_cli.pdf import find_soffice

    missing = [name for name, found in (("LibreOffice (soffice)", find_soffice()), ("pdftotext", shutil.which("pdftotext")))
               if not found]
    if missing:
        reason = f"{'、'.join(missing)} not installed: printed pages cannot be checked (apt-get install libreoffice-calc-nogui poppler-utils)"
        if os.environ.get("RELIEF_REQUIRE_PRINT") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass
class Page:
    width: float
    height: float
    words: list[Word]

    @property
    def text(self) -> str:
        """All words run together: CJK text has no spaces, and pdftotext splits at the ones we write."""
        return "".join(w.text for w in self.words)

    def has(self, text: str) -> bool:
        """The text is on the page whole, though wrapped over lines of a cell that pdftotext reads
        interleaved with the cells beside it: its words are taken in order, others skipped."""
        whole = text.replace(" ", "")
        for start, first in enumerate(self.words):
            if first.text and first.text.startswith(whole):
                return True
            if not (first.text and whole.startswith(first.text)):
                continue
            rest = whole
            for w in self.words[start:]:
                if w.text and rest.startswith(w.text):
                    rest = rest[len(w.text):]
                elif rest and w.text.startswith(rest):  # the text ends inside a word (本科（预警编号)
                    rest = ""
            if not rest:
                return True
        return False


def pdf_pages(path: Path) -> list[Page]:
    xhtml = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, check=True).stdout
    ns = "{http://www.w3.org/1999/xhtml}"
    pages = []
    for page in ET.fromstring(xhtml).iter(f"{ns}page"):
        words = [Word(w.text or "", *(float(w.get(k)) for k in ("xMin", "yMin", "xMax", "yMax"))) for w in page.iter(f"{ns}word")]
        pages.append(Page(float(page.get("width")), float(page.get("height")), words))
    return pages


def to_pdf(xlsx: Path) -> list[Page]:
    from relief_cli.pdf import write_pdf

    target = xlsx.with_suffix(".pdf")
    write_pdf(target, lambda path: shutil.copyfile(xlsx, path))
    return pdf_pages(target)


@pytest.fixture()
def city(sample_city, dbs):
    with Store(dbs.copy(sample_city), load_config(ROOT / "rules.yaml")) as store:
        yield store


def assert_readable(pages: list[Page]) -> None:
    for n, page in enumerate(pages, start=1):
        small = min(page.words, key=lambda w: w.height)
        assert small.height >= MIN_TEXT_PT, f"page {n}: 「{small.text}」 is {small.height:.1f} pt high"


def test_visit_forms_of_the_sample_community_print_as_planned(city, tmp_path):
    _tools_or_skip()
    cl = build_checklist(city, "金口岭", AS_OF)
    xlsx = tmp_path / "金口岭.xlsx"
    book = write_visit_workbook(xlsx, cl, city.config.settings.outcomes, entry=False)
    pages = to_pdf(xlsx)
    assert len(pages) == sum(book.pages.values()) == sum(1 + len(g.households) for g in cl.grids)
    assert_readable(pages)
    at = 0
    for g in cl.grids:
        covers = book.pages[g.grid] - len(g.households)
        cover_text = "".join(p.text for p in pages[at:at + covers])
        assert "三必访走访户清单" in cover_text and g.grid in cover_text
        for hh in g.households:
            assert hh.hukou_no in cover_text and hh.address in cover_text
        at += covers
        for hh in g.households:
            page = pages[at]
            assert page.text.startswith("入户走访记录表"), page.text[:40]
            assert hh.hukou_no in page.text and f"住址：{hh.address}" in page.text
            assert f"第{at + 1}页共{len(pages)}页" in page.text and f"网格员：{g.worker}" in page.text
            for r in hh.reasons:  # whole where there is room; a household with many keeps a line of each
                shown = r.detail if len(hh.reasons) <= 2 else r.detail[:20]
                assert page.has(f"【{r.kind}】{shown}") and (r.alert_id is None or f"预警编号{r.alert_id}）" in page.text), r.detail
            for m in hh.members:
                assert m.name in page.text
            assert_boxes(page)
            at += 1


def assert_boxes(page: Page) -> None:
    """The five answer boxes: each from its question's number to the next row at least 2 cm."""
    left = min(w.x0 for w in page.words)
    tops = [next(w.y0 for w in page.words if w.text == f"{i}." and w.x0 - left < 10) for i in range(1, 6)]
    tops.append(next(w.y0 for w in page.words if w.text.startswith("走访结果（打")))
    heights = [b - a for a, b in zip(tops, tops[1:])]
    assert min(heights) >= 2 * CM, heights


def test_a_large_household_still_takes_one_page(city, tmp_path):
    _tools_or_skip()
    long = "医疗费用骤增：近90天个人自付医疗费用 62,684.58 元，此前365天为 1,234.00 元（阈值 3.0 倍，且不低于 5,000 元）；" * 3
    members = [Member(f"成员{i}", "子女", f"3407**********{1000 + i}", "低保", 30 + i, "肢体二级" if i == 2 else None)
               for i in range(9)]
    hh = Household("340702100009999", "成员0", "铜陵市铜官区金口岭社区99栋9单元909室", "低保", "2026-11-27",
                   [Reason("突发困难", long, 101, "medical_surge"), Reason("突发困难", long, 102, "medical_annual"),
                    Reason("新申请", "2026-11-10 申请低保，办理状态：审核中")],
                   [Question("living", "问衣食住行", "吃穿住行有没有困难？" * 6)] * 5, "139****5678", members)
    small = Household("340702100009998", "单人", "金口岭1栋", "非低收入人口", "2026-11-27", [Reason("新申请", "申请")],
                      [Question("living", "问衣食住行", "提示")] * 5)
    cl = Checklist("金口岭社区", "2026-11-20", [GridList("第9网格", "网格员九", "138****0000", [hh, small]),
                                                GridList("第10网格", "网格员十", None, [])], [], "铜官区", "幸福街道")
    xlsx = tmp_path / "大户.xlsx"
    book = write_visit_workbook(xlsx, cl, city.config.settings.outcomes, entry=False)
    pages = to_pdf(xlsx)
    assert book.pages == {"第9网格": 3, "第10网格": 1} and len(pages) == 4
    assert "本网格暂无需要走访的户" in pages[3].text  # an empty grid: its cover page says so, and no forms
    assert_readable(pages)
    form = pages[1]
    assert "名成员未列出，详见relief" in form.text and "成员0" in form.text and "成员8" not in form.text
    assert "…" in form.text  # the long reasons are cut to four lines each
    assert_boxes(form)
    assert "340702100009998" in pages[2].text


def test_report_is_one_page_with_chinese_labels_and_percentages(city, tmp_path):
    _tools_or_skip()
    from relief_cli.report_sheet import write_report_xlsx

    for by in ("rule", "month"):
        xlsx = tmp_path / f"月报-{by}.xlsx"
        report = funnel(city, dt.date(2026, 1, 1), AS_OF, by)
        write_report_xlsx(xlsx, report)
        pages = to_pdf(xlsx)
        assert len(pages) == 1
        assert_readable(pages)
        text = pages[0].text
        assert "漏斗：推送→已走访→纳入救助" in text and "合计" in text
        assert not any(rule.id in text for rule in city.config.rules)
        for row in report.rows:
            assert row.group in text
        total = report.total
        assert f"{total.conversion * 100:.1f}%" in text


def test_overdue_sheets_fit_the_page_width(city, tmp_path):
    _tools_or_skip()
    from relief_cli.overdue_sheet import write_overdue_xlsx

    day = dt.date(2026, 11, 30)
    masked = overdue(city, day)
    xlsx = tmp_path / "超期.xlsx"
    write_overdue_xlsx(xlsx, masked)
    pages = to_pdf(xlsx)
    assert_readable(pages)
    for page in pages:  # every page has every column: none is pushed onto a page of its own
        assert "编号" in page.text and "依据" in page.text and "超期工作日" in page.text
        assert max(w.x1 for w in page.words) <= page.width - 0.4 * 72
    ids = {a["id"] for a in masked.alerts}
    shown = overdue(city, day, masker=Masker(True))
    assert ids and all("****" in a["id_no"] and a["address"] is None for a in masked.alerts)
    full = tmp_path / "超期-带住址.xlsx"
    write_overdue_xlsx(full, shown, show_pii=True)
    pages = to_pdf(full)
    assert_readable(pages)
    text = "".join(p.text for p in pages)
    for a in shown.alerts:
        assert a["hukou_no"] in text and a["id_no"] in text and any(p.has(a["address"]) for p in pages)
    masked_text = "".join(p.text for p in pdf_pages(xlsx.with_suffix(".pdf")))
    assert not any(a["hukou_no"] in masked_text or a["id_no"] in masked_text for a in shown.alerts)


def test_no_libreoffice_is_one_chinese_line(db, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from relief_cli.cli import app
    from relief_cli.pdf import NOT_INSTALLED

    monkeypatch.setenv("RELIEF_SOFFICE", str(tmp_path / "没有这个程序.exe"))
    with Store(db, load_config(ROOT / "rules.yaml")):
        pass
    result = CliRunner().invoke(app, ["report", "--db", db, "--pdf", str(tmp_path / "月报.pdf")])
    assert result.exit_code == 1
    assert NOT_INSTALLED in result.stderr and not (tmp_path / "月报.pdf").exists()
