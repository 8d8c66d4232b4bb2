from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from relief_cli.checklist import CommunityNotFound, build_checklist
from relief_cli.privacy import Masker
from relief_cli.scan import scan
from relief_cli.visit_sheet import write_visit_workbook
from relief_cli.config import load_config
from relief_cli.store import Store
from conftest import ROOT, load, make_id

AS_OF = dt.date(2026, 11, 20)
P1, P2, P3, P4 = (make_id("340705", "19700101", i) for i in (61, 62, 63, 64))


@pytest.fixture()
def city(store, tmp_path):
    load(store, tmp_path, "grids", [
        {"district": "铜官区", "town": "幸福街道", "community": "金口岭社区", "grid": "第一网格", "worker": "网格员甲", "worker_phone": "13800001111"},
        {"district": "铜官区", "town": "幸福街道", "community": "金口岭社区", "grid": "第二网格", "worker": "网格员乙", "worker_phone": "13800002222"},
        {"district": "铜官区", "town": "幸福街道", "community": "幸福社区", "grid": "第一网格", "worker": "网格员丙", "worker_phone": "13800003333"},
    ])
    load(store, tmp_path, "population", [
        {"id_no": P1, "name": "户主一", "hukou_no": "H1", "relation": "户主", "community": "金口岭社区", "grid": "第一网格", "address": "金口岭1栋"},
        {"id_no": P2, "name": "户主二", "hukou_no": "H2", "relation": "户主", "community": "金口岭社区", "grid": "第二网格", "address": "金口岭2栋"},
        {"id_no": P3, "name": "户主三", "hukou_no": "H3", "relation": "户主", "community": "金口岭社区", "grid": "第一网格", "address": "金口岭3栋"},
        {"id_no": P4, "name": "户主四", "hukou_no": "H4", "relation": "户主", "community": "幸福社区", "grid": "第一网格", "address": "幸福4栋"},
    ])
    load(store, tmp_path, "assistance", [{"id_no": P2, "category": "城市低保"}])
    load(store, tmp_path, "applications", [
        {"id_no": P1, "apply_date": "2026-11-10", "category": "低保", "status": "审核中"},
        {"id_no": P3, "apply_date": "2026-10-10", "category": "临时救助", "status": "已办结"},
        {"id_no": P4, "apply_date": "2026-11-10", "category": "低保", "status": "审核中"},
    ])
    load(store, tmp_path, "adjustments", [
        {"id_no": P2, "adjust_date": "2026-11-02", "adjust_type": "减发"},
        {"id_no": P3, "adjust_date": "2026-09-01", "adjust_type": "停发"},  # older than 60 days
    ])
    load(store, tmp_path, "illness", [{"id_no": P1, "diagnosis": "恶性肿瘤", "diagnose_date": "2026-11-05"}])
    load(store, tmp_path, "medical", [{"settlement_no": "M1", "id_no": P2, "settle_date": "2026-10-01", "oop": 12345}])
    scan(store, AS_OF)
    return store


def test_reasons_from_three_sources_one_household_once(city):
    cl = build_checklist(city, "金口岭", AS_OF)
    assert cl.community == "金口岭社区"
    assert [(g.grid, g.worker, g.worker_phone) for g in cl.grids] == [("第一网格", "网格员甲", "138****1111"), ("第二网格", "网格员乙", "138****2222")]
    first, second = cl.grids
    assert [h.hukou_no for h in first.households] == ["H1"]  # H3: application finished, adjustment too old
    h1 = first.households[0]
    assert (h1.head_name, h1.address, h1.category) == ("户主一", "金口岭1栋", "非低收入人口")
    assert [(r.kind, r.detail) for r in h1.reasons] == [
        ("突发困难", "新确诊重大疾病：2026-11-05 确诊重大疾病：恶性肿瘤"),
        ("新申请", "2026-11-10 申请低保，办理状态：审核中"),
    ]
    assert h1.due_on == "2026-11-17"  # application 11-10 + 5 working days, earlier than the alert's 11-27
    h2 = second.households[0]
    assert h2.category == "低保"
    assert [(r.kind, r.detail) for r in h2.reasons] == [
        ("突发困难", "年度个人自付医疗费用超阈值：2026年个人自付医疗费用 12,345 元，超过低保对象阈值 5,000 元（统计期 2026-01-01 至 2026-11-20）"),
        ("突发困难", "医疗费用骤增：近90天个人自付医疗费用 12,345 元，此前365天为 0 元（阈值 3.0 倍，且不低于 5,000 元）"),
        # the household-level model sees the same spending: one visit, one more reason
        ("突发困难", "家庭医疗支出骤增：全户 1 人近90天个人自付医疗费用 12,345 元，此前365天为 0 元（阈值 3.0 倍，且不低于 5,000 元）"
                     "；各成员近90天（此前平均每90天）：户主 户** 12,345 元（0 元）"),
        ("动态调整", "2026-11-02 动态调整：减发"),
    ]


def test_tailored_prompts(city):
    cl = build_checklist(city, "金口岭社区", AS_OF)
    h1 = cl.grids[0].households[0]
    prompts = {q.id: q.prompt for q in h1.questions}
    defaults = {q.id: q.prompt for q in cl.questions}
    assert prompts["medical_education"].startswith("确诊后在哪里治疗") and defaults["medical_education"].startswith("家人身体怎样")
    assert prompts["living"] == defaults["living"]
    assert [q.title for q in cl.questions] == ["问衣食住行", "问医疗教育", "问就业需求", "问政策知晓", "问服务评价"]


def test_json_shape(city):
    data = build_checklist(city, "金口岭", AS_OF, grid="第二").as_dict()
    assert set(data) == {"community", "district", "town", "as_of", "grids", "questions"}
    assert [g["grid"] for g in data["grids"]] == ["第二网格"]
    grid = data["grids"][0]
    assert set(grid) == {"grid", "worker", "worker_phone", "households"}
    hh = grid["households"][0]
    assert {"hukou_no", "head_name", "address", "category", "due_on", "reasons"} <= set(hh)
    assert set(hh["reasons"][0]) >= {"kind", "detail", "alert_id"}
    assert build_checklist(city, "金口岭", AS_OF, masker=Masker(True)).grids[0].worker_phone == "13800001111"


def test_community_names(city):
    with pytest.raises(CommunityNotFound, match="找不到社区（村）「金口林」，最接近的有：金口岭社区"):
        build_checklist(city, "金口林", AS_OF)
    with pytest.raises(CommunityNotFound, match="「社区」匹配到多个社区（村）：幸福社区、金口岭社区"):
        build_checklist(city, "社区", AS_OF)


def test_xlsx_sheets_print_settings_and_validation(city, tmp_path):
    cl = build_checklist(city, "金口岭", AS_OF)
    path = tmp_path / "清单.xlsx"
    book = write_visit_workbook(path, cl, city.config.settings.outcomes)
    assert (book.households, book.pages) == (2, {"第一网格": 2, "第二网格": 2})  # a cover page and one form each
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["第一网格·户清单", "第一网格·走访记录表", "第二网格·户清单", "第二网格·走访记录表",
                             "第一网格", "第二网格"]
    cover, forms = wb["第一网格·户清单"], wb["第一网格·走访记录表"]
    for ws, orientation in ((cover, "landscape"), (forms, "portrait")):
        assert ws.page_setup.orientation == orientation and int(ws.page_setup.paperSize) == 9  # A4
        assert not ws.sheet_properties.pageSetUpPr.fitToPage and int(ws.page_setup.scale) == 100
        assert "第 &P 页 共 &N 页" in ws.oddFooter.right.text and "网格员：网格员甲" in ws.oddFooter.left.text
        fonts = {(c.font.name, c.font.sz) for row in ws.iter_rows() for c in row if c.value is not None}
        assert {name for name, _ in fonts} == {"宋体"} and min(size for _, size in fonts) >= 10
    assert cover.print_title_rows == "$1:$3"
    assert [c.value for c in cover[3]] == ["序号", "户号", "户主", "联系电话", "住址", "类别", "走访原因", "走访期限", "提醒"]
    assert [c.value for c in cover[4]][:5] == [1, "H1", "户主一", None, "金口岭1栋"]
    texts = [c.value for row in forms.iter_rows() for c in row if isinstance(c.value, str)]
    assert "入户走访记录表" in texts and "住址：金口岭1栋" in texts
    assert any(t.startswith("走访结果（打 √）：□ 纳入救助　□ 转办　□ 不符合条件　□ 无法联系　□ 已在保无需处理") for t in texts)
    ws = wb["第一网格"]
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$3"
    header = [c.value for c in ws[3]]
    assert header[:10] == ["序号", "户号", "户主", "住址", "救助类别", "走访原因", "详情", "走访期限", "预警编号", "走访日期"]
    assert "问医疗教育" in header and header[-4:] == ["走访结果", "救助类型或转办部门", "走访人", "备注"]
    assert [c.value for c in ws[4]][1:3] == ["H1", "户主一"]
    validations = ws.data_validations.dataValidation
    assert len(validations) == 1 and validations[0].formula1 == '"纳入救助,转办,不符合条件,无法联系,已在保无需处理"'
    for sheet in wb:
        for row in sheet.iter_rows():
            assert all(c.data_type != "f" for c in row)
    printed = write_visit_workbook(tmp_path / "打印.xlsx", cl, city.config.settings.outcomes, entry=False)
    assert printed == book and "第一网格" not in openpyxl.load_workbook(tmp_path / "打印.xlsx").sheetnames


def test_members_phone_and_urgency(city, tmp_path):
    P5, P6 = make_id("340705", "20100301", 65), make_id("340705", "19450101", 66)
    load(city, tmp_path, "population", [
        {"id_no": P1, "name": "户主一", "hukou_no": "H1", "relation": "户主", "community": "金口岭社区", "grid": "第一网格",
         "address": "金口岭1栋", "phone": "13912345678"},
        {"id_no": P5, "name": "孩子", "hukou_no": "H1", "relation": "子", "community": "金口岭社区", "grid": "第一网格",
         "address": "金口岭1栋"},
        {"id_no": P6, "name": "老人", "hukou_no": "H1", "relation": "父亲", "community": "金口岭社区", "grid": "第一网格",
         "address": "金口岭1栋"},
    ])
    load(city, tmp_path, "assistance", [{"id_no": P5, "category": "城市低保"}, {"id_no": P6, "category": "特困供养", "status": "停发"}])
    load(city, tmp_path, "disability", [{"id_no": P5, "cert_no": "C1", "disability_type": "肢体", "grade": 2, "issue_date": "2025-01-01"}])
    load(city, tmp_path, "deaths", [{"id_no": P6, "death_date": "2026-11-01"}])
    h1 = build_checklist(city, "金口岭", AS_OF).grids[0].households[0]
    assert h1.phone == "139****5678"
    assert [(m.name, m.relation, m.category, m.age, m.disability, m.died_on) for m in h1.members] == [
        ("户主一", "户主", None, 56, None, None),
        ("孩子", "子", "低保", 16, "肢体二级", None),
        ("老人", "父亲", None, 81, None, "2026-11-01"),  # a 停发 row gives no category
    ]
    assert h1.members[1].id_no == P5[:4] + "*" * 10 + P5[-4:]
    assert build_checklist(city, "金口岭", AS_OF, masker=Masker(True)).grids[0].households[0].members[1].id_no == P5
    # Due 2026-11-17: overdue on the 20th; on the 13th two working days remain (due soon), on the 12th three.
    assert h1.urgency == "已超期"
    assert build_checklist(city, "金口岭", dt.date(2026, 11, 13)).grids[0].households[0].urgency == "即将到期"
    assert build_checklist(city, "金口岭", dt.date(2026, 11, 12)).grids[0].households[0].urgency is None


def test_an_application_pending_for_years_is_still_listed_with_a_due_date(city, tmp_path):
    load(city, tmp_path, "applications", [{"id_no": P3, "apply_date": "2019-03-01", "category": "低保", "status": "审核中"}])
    cl = build_checklist(city, "金口岭", AS_OF)
    h3 = [h for g in cl.grids for h in g.households if h.hukou_no == "H3"][0]
    assert h3.due_on == "2019-03-08" and h3.reasons[0].detail == "2019-03-01 申请低保，办理状态：审核中"


def test_all_communities_one_workbook_each_and_by_worker(sample_city, dbs, tmp_path):
    from typer.testing import CliRunner

    from relief_cli.cli import app

    db = dbs.copy(sample_city)

    def run(*args):
        return CliRunner().invoke(app, [str(a) for a in args])

    out = tmp_path / "清单"
    result = run("checklist", "--all", "--town", "幸福", "--out", out, "--db", db, "--as-of", "2026-11-20", "--format", "json")
    assert result.exit_code == 0, result.output
    import json

    summary = json.loads(result.stdout)
    names = sorted(Path(f["path"]).name for f in summary["files"])
    assert names == sorted(p.name for p in out.iterdir())
    assert "幸福街道-金口岭社区-走访清单-2026-11-20.xlsx" in names
    assert {f["town"] for f in summary["files"]} == {"幸福街道"}
    assert summary["communities"] == len(summary["files"]) + len(summary["empty"])
    assert summary["households"] == sum(f["households"] for f in summary["files"])
    with Store(db, load_config(ROOT / "rules.yaml")) as store:
        one = build_checklist(store, "金口岭社区", AS_OF)
    jk = next(f for f in summary["files"] if f["community"] == "金口岭社区")
    assert (jk["grids"], jk["households"]) == (len(one.grids), sum(len(g.households) for g in one.grids))
    with Store(db, load_config(ROOT / "rules.yaml")) as store:  # the export was audited
        assert store.conn.execute("SELECT rows, target FROM audit WHERE command = 'checklist:all'").fetchall() == [
            (summary["households"], str(out))]
    wb = openpyxl.load_workbook(out / "幸福街道-金口岭社区-走访清单-2026-11-20.xlsx")
    assert [g.grid for g in one.grids if g.households][0] in wb.sheetnames

    by_worker = tmp_path / "按网格员"
    result = run("checklist", "--all", "--district", "铜官", "--by-worker", "--out", by_worker, "--db", db, "--as-of", "2026-11-20")
    assert result.exit_code == 0, result.output
    assert "个社区（村）" in result.stdout and "个文件" in result.stdout
    files = sorted(p.name for p in by_worker.iterdir())
    workers = {g.worker for g in one.grids if g.households}
    assert {f"幸福街道-金口岭社区-{w}-走访清单-2026-11-20.xlsx" for w in workers} <= set(files)

    assert run("checklist", "--all", "--db", db).exit_code == 2  # no --out
    assert run("checklist", "--all", "--community", "金口岭", "--out", out, "--db", db).exit_code == 2
    assert run("checklist", "--town", "幸福", "--db", db).exit_code == 2  # --town without --all
    missing = run("checklist", "--all", "--town", "没有这个镇", "--out", out, "--db", db, "--as-of", "2026-11-20")
    assert missing.exit_code == 1 and "找不到乡镇（街道）「没有这个镇」" in missing.stderr


def test_file_names_are_safe_on_windows():
    from relief_cli.visit_sheet import file_part

    assert file_part('东郊/社区:*?"<>|') == "东郊_社区_______"
    assert file_part(None) == "未分派" and file_part(" . ") == "未分派" and file_part("社区.") == "社区"
