"""The synthetic city: deterministic, shaped like real exports, and carrying the three stories."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
import python_calamine
import yaml

from relief_cli import sample
from relief_cli.sample import SAMPLE_AS_OF, STORIES, generate_city

AS_OF = SAMPLE_AS_OF
RULES = Path(sample.__file__).with_name("rules.yaml")

# Which source of rules.yaml each generated table is: (file, sheet name prefix).
TABLE_SOURCES = {
    (sample.POPULATION_FILE, "户籍人口"): "population",
    (sample.GRIDS_FILE, "网格员名单"): "grids",
    (sample.ROSTER_FILE, "名册"): "assistance",
    (sample.APPLICATIONS_FILE, "救助申请"): "applications",
    (sample.APPLICATIONS_FILE, "动态调整"): "adjustments",
    (sample.MEDICAL_FILE, "明细"): "medical",
    (sample.DISABILITY_FILE, "持证残疾人"): "disability",
    (sample.SOCIAL_INSURANCE_FILE, ""): "social_insurance",
    (sample.UNEMPLOYMENT_FILE, "登记信息"): "unemployment",
    (sample.HEALTH_FILE, "死亡人员"): "deaths",
    (sample.HEALTH_FILE, "重大疾病"): "illness",
    (sample.STUDENTS_FILE, ""): "students",
}
CSV_ENCODINGS = {sample.SOCIAL_INSURANCE_FILE: "gbk", sample.STUDENTS_FILE: "utf-8-sig"}
ID_CHECK = "10X98765432"
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
FULL_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, households=150, seed=11)
    return out


def raw_sheets(path: Path) -> dict[str, list[list]]:
    """Every sheet as rows of cells; a csv is one sheet of strings named ''."""
    if path.suffix == ".csv":
        with open(path, encoding=CSV_ENCODINGS[path.name], newline="") as f:
            return {"": list(csv.reader(f))}
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in book.sheet_names}


def header_index(rows: list[list]) -> int:
    """The header is the first row with more than one filled cell: a title row above it has one."""
    return next(i for i, row in enumerate(rows) if sum(1 for v in row if v not in ("", None)) > 1)


def table(path: Path, prefix: str = "") -> list[dict]:
    records = []
    for name, rows in raw_sheets(path).items():
        if not name.startswith(prefix):
            continue
        start = header_index(rows)
        header = rows[start]
        for row in rows[start + 1:]:
            if row[0] == "合计" or all(v in ("", None) for v in row):
                continue
            records.append(dict(zip(header, row)))
    return records


def valid_id(id_no: str) -> bool:
    return (len(id_no) == 18 and id_no[:17].isdigit()
            and ID_CHECK[sum(int(c) * w for c, w in zip(id_no, ID_WEIGHTS)) % 11] == id_no[17])


def normalised(cell) -> str:
    """Undo the harmless damage of real exports; a float stays unusable."""
    if not isinstance(cell, str):
        return ""
    return cell.translate(FULL_WIDTH).replace(" ", "").lstrip("'").upper()


def birth(id_no: str) -> dt.date:
    return dt.date(int(id_no[6:10]), int(id_no[10:12]), int(id_no[12:14]))


def age(id_no: str) -> int:
    b = birth(id_no)
    return AS_OF.year - b.year - ((AS_OF.month, AS_OF.day) < (b.month, b.day))


def members(city: Path, key: str) -> list[dict]:
    return [r for r in table(city / sample.POPULATION_FILE) if r["户号"] == STORIES[key]]


def by_id(records: list[dict], column: str, ids: set[str]) -> list[dict]:
    return [r for r in records if r[column] in ids]


def test_check_digit_of_the_standard_example():
    assert sample._check_digit("11010519491231002") == "X"


def test_same_arguments_give_identical_files(tmp_path):
    first = generate_city(tmp_path / "a", households=60, seed=5)
    second = generate_city(tmp_path / "b", households=60, seed=5)
    assert first.records == second.records
    for a, b in zip(first.files, second.files):
        assert a.path.name == b.path.name
        assert raw_sheets(a.path) == raw_sheets(b.path)
        assert a.path.read_bytes() == b.path.read_bytes(), a.path.name


def test_another_seed_gives_another_city(tmp_path):
    first = generate_city(tmp_path / "a", households=60, seed=5)
    other = generate_city(tmp_path / "b", households=60, seed=6)
    assert raw_sheets(first.files[0].path) != raw_sheets(other.files[0].path)


def test_summary_counts_the_rows_written(tmp_path):
    summary = generate_city(tmp_path, households=60, seed=5)
    assert summary.households == 60
    assert {f.path.name for f in summary.files} == {name for name, _ in TABLE_SOURCES}
    for f in summary.files:
        for name, rows in raw_sheets(f.path).items():
            sheet = name or f.path.stem
            data = [r for r in rows[header_index(rows) + 1:]
                    if r[0] != "合计" and any(v not in ("", None) for v in r)]
            assert f.sheets[sheet] == len(data), (f.path.name, sheet)
    assert summary.records == sum(sum(f.sheets.values()) for f in summary.files)
    population = table(tmp_path / sample.POPULATION_FILE)
    assert summary.people == sum(1 for r in population if valid_id(normalised(r["公民身份号码"])))


def test_every_header_is_an_alias_of_its_source(city):
    sources = yaml.safe_load(RULES.read_text(encoding="utf-8"))["sources"]
    for path in sorted(city.iterdir()):
        for name, rows in raw_sheets(path).items():
            if name == "备用":
                continue
            source = next(s for (file, prefix), s in TABLE_SOURCES.items()
                          if file == path.name and name.startswith(prefix))
            aliases = {a for field in sources[source]["fields"].values() for a in field["aliases"]}
            header = [h for h in rows[header_index(rows)] if h != ""]
            assert set(header) <= aliases, (path.name, name, set(header) - aliases)
            required = [f for f, spec in sources[source]["fields"].items() if spec.get("required")]
            for field in required:
                assert set(sources[source]["fields"][field]["aliases"]) & set(header), (path.name, field)


def test_aliases_vary_across_files(city):
    id_headers = set()
    for (file, prefix), source in TABLE_SOURCES.items():
        if source != "grids":
            rows = next(r for n, r in raw_sheets(city / file).items() if n.startswith(prefix))
            id_headers |= {h for h in rows[header_index(rows)] if "身份" in h or "证件" in h}
    assert len(id_headers) >= 4


def test_roster_is_legacy_biff8(city):
    path = city / sample.ROSTER_FILE
    assert path.read_bytes()[:8] == bytes.fromhex("D0CF11E0A1B11AE1")
    sheets = raw_sheets(path)
    assert list(sheets) == ["名册"]
    assert sheets["名册"][0][0] == "铜陵市城乡社会救助对象名册"


def test_csv_encodings(city):
    contributions = (city / sample.SOCIAL_INSURANCE_FILE).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        contributions.decode("utf-8")
    assert contributions.decode("gbk").startswith("公民身份号码,")
    students = (city / sample.STUDENTS_FILE).read_bytes()
    assert students.startswith(b"\xef\xbb\xbf")
    assert students.decode("utf-8-sig").startswith("学校名称,")


def test_spare_sheet_is_hidden(city):
    book = python_calamine.CalamineWorkbook.from_path(str(city / sample.APPLICATIONS_FILE))
    visibility = {m.name: m.visible for m in book.sheets_metadata}
    assert visibility["备用"] == python_calamine.SheetVisibleEnum.Hidden
    assert visibility["救助申请"] == visibility["动态调整"] == python_calamine.SheetVisibleEnum.Visible


def test_population_ids_are_messy_but_only_few_are_broken(city):
    rows = raw_sheets(city / sample.POPULATION_FILE)["户籍人口"]
    assert rows[0][0].startswith("铜陵市公安局户籍人口信息")
    assert any(all(v == "" for v in row) for row in rows[2:]), "a blank row in the middle"
    ids = [r["公民身份号码"] for r in table(city / sample.POPULATION_FILE)]
    assert any(isinstance(i, float) for i in ids), "an ID destroyed into a float"
    assert any(isinstance(i, str) and i.endswith("x") for i in ids)
    fixed = [normalised(i) for i in ids if isinstance(i, str)]
    broken = [i for i in fixed if not valid_id(i)]
    assert 1 <= len(broken) <= 3, broken
    assert len(set(fixed)) == len(fixed)


def test_medical_export_shape(city):
    rows = raw_sheets(city / sample.MEDICAL_FILE)["明细"]
    assert rows[0][0].startswith("铜陵市医疗保障局")
    assert rows[-1][0] == "合计"
    records = table(city / sample.MEDICAL_FILE)
    assert {r["就诊类型"] for r in records} == {"门诊", "住院", "门诊慢特病"}
    dates = [r["结算日期"] for r in records]
    assert sum(isinstance(d, dt.date) for d in dates) > 0.9 * len(dates)
    assert any(isinstance(d, dt.date) and d > AS_OF for d in dates), "settlements after the scan date"
    assert any(isinstance(d, str) for d in dates)
    amounts = [r["个人自付"] for r in records]
    assert any(isinstance(a, str) and ("," in a or a.endswith("元")) for a in amounts)


def test_split_sheets_repeat_title_and_header(tmp_path):
    summary = generate_city(tmp_path, households=60, seed=5, max_sheet_rows=50)
    medical = next(f for f in summary.files if f.path.name == sample.MEDICAL_FILE)
    assert len(medical.sheets) >= 3
    assert list(medical.sheets) == [f"明细{i}" for i in range(1, len(medical.sheets) + 1)]
    sheets = raw_sheets(medical.path)
    assert list(sheets) == list(medical.sheets)
    first = sheets["明细1"]
    for name, rows in sheets.items():
        assert rows[0][0] == first[0][0] and rows[1] == first[1], name
        assert rows[-1][0] == "合计"
        data = rows[2:-1]
        assert len(data) == medical.sheets[name] and 0 < len(data) <= 50
        oop = sum(float(str(v).replace(",", "").replace("元", "")) for v in (r[8] for r in data))
        assert rows[-1][8] == pytest.approx(oop, abs=0.01)
    population = next(f for f in summary.files if f.path.name == sample.POPULATION_FILE)
    assert all(n <= 50 for n in population.sheets.values()) and len(population.sheets) > 1


def roster_ids(city: Path) -> set[str]:
    return {str(r["身份证号码"]) for r in table(city / sample.ROSTER_FILE)}


def test_story_medical_surge(city):
    family = members(city, "medical_surge")
    assert {r["社区(村)"] for r in family} == {"金口岭社区"}
    mother = next(r for r in family if r["与户主关系"] == "配偶")
    mother_id = mother["公民身份号码"]
    assert int(mother_id[16]) % 2 == 0 and 52 <= age(mother_id) <= 58
    assert any(r["与户主关系"] == "女" for r in family)
    assert not {r["公民身份号码"] for r in family} & roster_ids(city)

    settlements = by_id(table(city / sample.MEDICAL_FILE), "证件号码", {mother_id})
    assert {r["就诊类型"] for r in settlements} >= {"门诊", "住院"}

    def oop(start: dt.date, end: dt.date) -> float:
        return sum(r["个人自付"] for r in settlements if start < r["结算日期"] <= end)

    recent_start = AS_OF - dt.timedelta(days=90)
    recent = oop(recent_start, AS_OF)
    year_before = oop(recent_start - dt.timedelta(days=365), recent_start)
    assert recent >= 5000
    assert recent >= 3 * (year_before / 365 * 90)
    assert oop(dt.date(AS_OF.year - 1, 12, 31), AS_OF) > 15000


def test_story_new_disability(city):
    family = members(city, "new_disability")
    assert {r["社区(村)"] for r in family} == {"荷花塘社区"}
    man = next(r for r in family if r["与户主关系"] == "户主")
    man_id = man["公民身份号码"]
    assert int(man_id[16]) % 2 == 1 and 44 <= age(man_id) <= 46
    [certificate] = by_id(table(city / sample.DISABILITY_FILE), "身份证号", {man_id})
    assert certificate["残疾类别"] == "肢体"
    assert certificate["残疾等级"] in ("二级", 2)
    assert 0 <= (AS_OF - certificate["发证日期"]).days <= 30
    ids = {r["公民身份号码"] for r in family}
    assert not ids & roster_ids(city)
    assert not by_id(table(city / sample.APPLICATIONS_FILE, "救助申请"), "申请人身份证号", ids)


def test_story_dibao_to_tekun(city):
    family = members(city, "dibao_to_tekun")
    assert {r["社区(村)"] for r in family} == {"杨滨村"}
    ids = {r["公民身份号码"] for r in family}
    roster = by_id(table(city / sample.ROSTER_FILE), "身份证号码", ids)
    assert {r["身份证号码"] for r in roster} == ids
    assert {(r["保障类别"], r["状态"]) for r in roster} == {("农村低保", "正常")}

    grades = {r["身份证号"]: (r["残疾类别"], r["残疾等级"])
              for r in by_id(table(city / sample.DISABILITY_FILE), "身份证号", ids)}
    numbers = {"一级": 1, "二级": 2, "三级": 3, "四级": 4}
    head = next(r["公民身份号码"] for r in family if r["与户主关系"] == "户主")
    wife = next(r["公民身份号码"] for r in family if r["与户主关系"] == "配偶")
    assert age(head) >= 60 and grades[head] == ("肢体", "三级")
    assert age(wife) >= 60
    assert any(kind == "精神" and numbers[grade] == 2 for kind, grade in grades.values())
    assert any(r["公民身份号码"] == head for r in table(city / sample.HEALTH_FILE, "重大疾病"))

    def meets_tekun(id_no: str) -> bool:
        kind, grade = grades.get(id_no, ("", "五级"))
        grade = numbers.get(grade, 5)
        return age(id_no) >= 60 or age(id_no) < 16 or grade <= 2 or (grade == 3 and kind in ("智力", "精神"))

    assert all(meets_tekun(i) for i in ids)


def test_stories_are_found_whatever_the_seed(tmp_path):
    generate_city(tmp_path, households=4, seed=99)
    households = {r["户号"] for r in table(tmp_path / sample.POPULATION_FILE)}
    assert set(STORIES.values()) <= households


def test_too_few_households_is_an_error(tmp_path):
    with pytest.raises(ValueError):
        generate_city(tmp_path, households=3)


def test_bundled_sample_data_is_up_to_date(tmp_path):
    bundled = Path(__file__).resolve().parents[1] / "sample_data"
    if not bundled.exists():
        pytest.skip("sample_data/ has not been generated")
    summary = generate_city(tmp_path, households=1200, seed=7)
    assert {p.name for p in bundled.iterdir()} == {f.path.name for f in summary.files}
    for f in summary.files:
        assert (bundled / f.path.name).read_bytes() == f.path.read_bytes(), (
            f"{f.path.name} is stale: regenerate sample_data/ with generate_city(Path('sample_data'))"
        )


def test_story_household_medical_surge(city):
    """No member's spending crosses the surge threshold, the family's does; the son's contributions stopped."""
    family = members(city, "household_medical_surge")
    assert {r["社区(村)"] for r in family} == {"金口岭社区"} and len(family) == 4
    ids = {r["与户主关系"]: r["公民身份号码"] for r in family}
    settlements = table(city / sample.MEDICAL_FILE)

    def recent(id_no: str) -> float:
        return sum(r["个人自付"] for r in by_id(settlements, "证件号码", {id_no})
                   if AS_OF - dt.timedelta(days=90) < r["结算日期"] <= AS_OF)

    shares = [recent(ids["户主"]), recent(ids["配偶"])]
    assert all(0 < share < 5000 for share in shares) and sum(shares) >= 5000
    paying = by_id(table(city / sample.SOCIAL_INSURANCE_FILE), "公民身份号码", set(ids.values()))
    assert {r["公民身份号码"] for r in paying} == {ids["子"]}
