"""Makes the golden input files of tests/data once; their outputs are committed.

Run from the repository root: python tests/data/make_fixtures.py
(needs xlwt, and msoffcrypto-tool for the encrypted workbook; tests need neither).
"""

from __future__ import annotations

import datetime as dt
import io
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


if __name__ == "__main__":
    legacy_xls()
    gbk_csv()
    encrypted_xlsx()
