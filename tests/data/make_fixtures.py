"""Makes the golden input files of tests/data once; their outputs are committed.

Run from the repository root: python tests/data/make_fixtures.py
(needs xlwt, and msoffcrypto-tool for the encrypted workbook; tests need neither).
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
from pathlib import Path

import openpyxl
import xlwt

HERE = Path(__file__).parent
# Synthetic IDs (valid check digits, random sequence numbers): no real person.
ID_A = "340705198001010011"
ID_B = "340705198505050025"
ID_C = "340706195003030019"


def legacy_xls() -> None:
    """A BIFF8 roster as older government systems export it: title row, 15-digit ID, total row."""
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("名册")
    ws.write_merge(0, 0, 0, 5, "铜陵市义安区救助对象名册（2026年10月）")
    for j, title in enumerate(["序号", "身份证号码", "姓名", "家庭编号", "保障类别", "认定日期"]):
        ws.write(1, j, title)
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    rows = [
        (1, ID_A.lower(), "测甲", "F001", "城市低保", dt.date(2024, 3, 1)),
        (2, "340706500303001", "测丙", "F002", "特困人员", "2023年5月6日"),
        (3, 3.40705198505050e17, "测乙", "F003", "农村低保", "2025/1/2"),
    ]
    for i, row in enumerate(rows, start=2):
        for j, v in enumerate(row):
            if isinstance(v, dt.date):
                ws.write(i, j, v, date_style)
            else:
                ws.write(i, j, v)
    ws.write(5, 0, "合计")
    ws.write(5, 1, "3 人")
    wb.save(str(HERE / "roster.xls"))


def gbk_csv() -> None:
    lines = [
        "身份证号,姓名,费款所属期,缴费基数,险种",
        f"{ID_A},测甲,202601,\"4,000.00\",企业职工基本养老保险",
        f"{ID_A},测甲,2026-02,4000元,企业职工基本养老保险",
        f"{ID_B},测乙,202613,3000,企业职工基本养老保险",
    ]
    (HERE / "contributions_gbk.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))


def encrypted_xlsx() -> None:
    import msoffcrypto.format.ooxml  # only needed to make this fixture

    wb = openpyxl.Workbook()
    wb.active.append(["身份证号", "死亡日期"])
    plain = io.BytesIO()
    wb.save(plain)
    plain.seek(0)
    out = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(plain).encrypt("secret", out)
    (HERE / "encrypted.xlsx").write_bytes(out.getvalue())


def web_exports() -> None:
    """What web systems save under an .xls name: an HTML table (GBK, with a merged group title,
    a unit in a header, &nbsp; and a thousands separator), and tab-separated text."""
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk"></head><body>'
        '<table border="1"><tr><td colspan="5">铜陵市医疗保障局结算明细</td></tr>'
        '<tr><th rowspan="2">结算单号</th><th rowspan="2">证件号码<br>(身份证)</th><th rowspan="2">结算日期（年月日）</th>'
        '<th colspan="2">费用情况</th></tr><tr><th>医疗总费用</th><th>个人自付(元)</th></tr>'
        f'<tr><td>W001</td><td>{ID_A}</td><td>2026-10-08</td><td>12,000.00</td><td>3,456.70&nbsp;</td></tr>'
        f'<tr><td>W002</td><td>{ID_B}</td><td>2026/10/9</td><td>800</td><td>120</td></tr>'
        "</table></body></html>"
    )
    (HERE / "web_export.xls").write_bytes(html.encode("gbk"))
    tsv = ["身份证号\t死亡日期", f"{ID_A}\t2026-11-01", f"{ID_C}\t2026-10-15"]
    (HERE / "tab_export.xls").write_bytes(("\r\n".join(tsv) + "\r\n").encode("gbk"))


def quoted_csv() -> None:
    """Cells written ="…" so that Excel keeps the long numbers as text."""
    lines = ["身份证号,登记类型,登记日期", f'="{ID_A}",失业登记,="20261102"', f'="{ID_B}",就业登记,2026-11-03']
    (HERE / "quoted_ids.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def two_row_header() -> None:
    """A two-row header: a merged group title (费用情况) over the real titles, the others merged down."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "明细"
    ws.append(["结算单号", "身份证号", "结算日期", "费用情况", None, None, "医疗机构"])
    ws.append([None, None, None, "医疗总费用", "统筹支付", "个人自付（元）", None])
    for col in ("A", "B", "C", "G"):
        ws.merge_cells(f"{col}1:{col}2")
    ws.merge_cells("D1:F1")
    ws.append(["T001", ID_A, "2026-10-08", 10000, 7000, 3000, "市立医院"])
    ws.append(["T002", ID_B, "2026-10-09", 500, 400, 100, "社区卫生服务中心"])
    wb.save(HERE / "two_row_header.xlsx")


# --- A small hostile corpus (built by the tests into a temporary folder; each is cheap to make) ---

CONTENT_TYPES = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                 '<Default Extension="xml" ContentType="application/xml"/></Types>')


def many_sheets(path: Path, count: int = 100_000) -> Path:
    """500 KB that declares 100,000 sheets."""
    sheets = "".join(f'<sheet name="s{i}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i in range(count))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("xl/workbook.xml", f'<workbook xmlns:r="r"><sheets>{sheets}</sheets></workbook>')
    return path


def sheet_xml(rows: int) -> bytes:
    row = "".join(f'<c r="{c}{{n}}" t="inlineStr"><is><t>{c}{c}{c}</t></is></c>' for c in "ABCDEFGH")
    body = "".join(f'<row r="{n}">{row.format(n=n)}</row>' for n in range(1, rows + 1))
    return f'<worksheet><sheetData>{body}</sheetData></worksheet>'.encode()


def diluted_bomb(path: Path) -> Path:
    """A ratio a real export can have, but far more XML than any limit allows."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("xl/workbook.xml", '<workbook xmlns:r="r"><sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml(60_000))
    return path


def lying_bomb(path: Path) -> Path:
    """A part that declares 1 KB and inflates to megabytes: the headers lie."""
    diluted_bomb(path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    struct.pack_into("<I", data, info.header_offset + 22, 1024)  # local header: uncompressed size
    central = data.rfind(b"PK\x01\x02", 0, len(data))
    while central != -1:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46:central + 46 + name_len] == b"xl/worksheets/sheet1.xml":
            struct.pack_into("<I", data, central + 24, 1024)  # central directory: uncompressed size
            break
        central = data.rfind(b"PK\x01\x02", 0, central)
    path.write_bytes(bytes(data))
    return path


def repeated_ods(path: Path) -> Path:
    """Under 1 KB: one row of 16,384 copies of a cell, repeated a million times."""
    content = ('<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
               '<office:body><office:spreadsheet><table:table table:name="S">'
               '<table:table-row table:number-rows-repeated="1048576"><table:table-cell table:number-columns-repeated="16384">'
               '<text:p>x</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body>'
               '</office:document-content>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
    return path


def duplicate_rows(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write("身份证号,死亡日期\n")
        f.write(f"{ID_A},2026-11-01\n" * count)
    return path


if __name__ == "__main__":
    legacy_xls()
    gbk_csv()
    encrypted_xlsx()
    web_exports()
    quoted_csv()
    two_row_header()
