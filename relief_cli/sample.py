"""A synthetic city: one month of departmental exports for demos, tests and the benchmark.

`generate_city` writes the files a civil-affairs office receives each month from
the departments (DESIGN §2) for an invented, Tongling-like city, in the shapes
real exports arrive in: title rows above the header, a 合计 row at the bottom,
a legacy BIFF8 .xls, a GBK csv, a hidden sheet, IDs with lowercase x, full-width
digits, apostrophes, spaces or destroyed into floats, dates and amounts written
half a dozen ways, and a few rows an importer must reject.

Three fixed households replay the stories of DESIGN §4, and a fourth the household-level
models: no member's spending crosses a threshold but the family's does (see `STORIES`).

Every person is invented. IDs carry valid check digits but random birth dates and
sequence numbers. The story people share the surnames 贾 and 甄 (the 假/真
"false/true" pun of 红楼梦), which the random population never uses, so they
stand out in a demo and cannot be mistaken for anyone.

Output is a function of the arguments only: one `random.Random(seed)`, no clock,
and the xlsx zip entries carry a timestamp derived from `as_of`, so the same
arguments give byte-identical files.

The xlsx files are written by the small streaming writer below rather than by
openpyxl: without lxml, openpyxl's write-only mode needs ~190 µs a row on the
reference 2-core machine, which is ~20 minutes for the 7 M rows of the benchmark
city; writing the SpreadsheetML directly is ~10 times faster, and inline strings
keep memory flat however many rows a sheet has.
"""

from __future__ import annotations

import csv
import random
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

try:
    import xlwt
except ImportError:  # optional: without it the roster is written as .xlsx (see _City._open)
    xlwt = None

SAMPLE_AS_OF = date(2026, 11, 20)

# Household numbers (户号) of the story households; fixed so that tests and the
# demo find them whatever the seed.
STORIES: dict[str, str] = {
    "medical_surge": "340702900000101",
    "new_disability": "340702900000102",
    "dibao_to_tekun": "340702900000103",
    "household_medical_surge": "340702900000104",
}


@dataclass(frozen=True)
class SampleFile:
    path: Path
    sheets: dict[str, int]  # sheet name (a csv's file stem) -> data rows written


@dataclass(frozen=True)
class SampleSummary:
    files: list[SampleFile]
    people: int
    households: int
    records: int  # total data rows of all files, rows an importer must reject included


# --- file names and headers ---------------------------------------------------
# Headers are taken from the aliases in rules.yaml; each file uses a different
# alias for the same field where rules.yaml offers one, so that alias matching
# is exercised. A column is (header, width in characters).

POPULATION_FILE = "公安_户籍人口.xlsx"
GRIDS_FILE = "网格中心_网格与网格员.xlsx"
ROSTER_FILE = "民政_救助对象名册.xls"
APPLICATIONS_FILE = "民政_救助申请与动态调整.xlsx"
MEDICAL_FILE = "医保_结算明细_2025-2026.xlsx"
DISABILITY_FILE = "残联_残疾人证.xlsx"
SOCIAL_INSURANCE_FILE = "人社_社保缴费.csv"
UNEMPLOYMENT_FILE = "人社_就业失业登记.xlsx"
HEALTH_FILE = "卫健_死亡与重大疾病.xlsx"
STUDENTS_FILE = "教育_在校学生.csv"
_FILES = (
    POPULATION_FILE, GRIDS_FILE, ROSTER_FILE, APPLICATIONS_FILE, MEDICAL_FILE, DISABILITY_FILE,
    SOCIAL_INSURANCE_FILE, UNEMPLOYMENT_FILE, HEALTH_FILE, STUDENTS_FILE,
)

_POPULATION_COLUMNS = (
    ("户号", 17), ("与户主关系", 11), ("姓名", 10), ("公民身份号码", 22),
    ("社区(村)", 14), ("所属网格", 22), ("户籍地址", 44), ("联系电话", 14),
)
_GRID_COLUMNS = (
    ("区县", 10), ("乡镇(街道)", 12), ("村(社区)", 14), ("网格名称", 22),
    ("网格员姓名", 11), ("网格员电话", 14),
)
_ROSTER_COLUMNS = (
    ("家庭编号", 18), ("姓名", 10), ("身份证号码", 22), ("保障类别", 14),
    ("认定日期", 12), ("状态", 8),
)
_APPLICATION_COLUMNS = (
    ("申请人姓名", 11), ("申请人身份证号", 22), ("申请事项", 22), ("申请日期", 16),
    ("办理状态", 12),
)
_ADJUSTMENT_COLUMNS = (
    ("姓名", 10), ("公民身份号码", 22), ("调整类型", 10), ("调整日期", 12), ("调整原因", 26),
)
_SPARE_COLUMNS = (("备注", 30), ("数量", 10))
_SPARE_ROWS = (["临时表，请勿删除", None], ["待核实", 3], ["重复数据", 12], [None, "abc"], ["口径调整中", None])
_MEDICAL_COLUMNS = (
    ("结算流水号", 22), ("参保人姓名", 11), ("证件号码", 22), ("就诊类型", 12),
    ("结算日期", 12), ("定点医药机构名称", 28), ("医疗总费用", 12), ("基金支付", 12),
    ("个人自付", 12),
)
_MEDICAL_TOTAL_COLUMNS = (6, 7, 8)
_DISABILITY_COLUMNS = (
    ("姓名", 10), ("身份证号", 22), ("残疾证号", 24), ("残疾类别", 10), ("残疾等级", 10),
    ("发证日期", 12),
)
_SOCIAL_INSURANCE_HEADER = ("公民身份号码", "姓名", "险种", "费款所属期", "缴费基数")
_UNEMPLOYMENT_COLUMNS = (("姓名", 10), ("身份证号码", 22), ("登记类型", 10), ("登记日期", 12))
_DEATH_COLUMNS = (("姓名", 10), ("身份证号", 22), ("死亡日期", 12))
_ILLNESS_COLUMNS = (("姓名", 10), ("公民身份号码", 22), ("诊断", 18), ("确诊日期", 12))
_STUDENT_HEADER = ("学校名称", "学段", "姓名", "身份证号码", "入学日期", "学费")

# --- resident IDs ------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")


def _check_digit(body: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS)) % 11]


def _legacy_id(id_no: str) -> str:
    """The 15-digit ID the same person held before 1999: no century, no check digit."""
    return id_no[:6] + id_no[8:17]


def _wrong_check(id_no: str) -> str:
    right = id_no[17]
    return id_no[:17] + _ID_CHECK[(_ID_CHECK.index(right) + 3) % 11]


def _excel_float(id_no: str) -> float:
    """What Excel keeps of an ID typed into a number cell: 15 significant digits."""
    digits = id_no[:17] + ("0" if id_no[17] == "X" else id_no[17])
    return float(f"{int(digits):.14e}")


class _IdAllocator:
    """Issues unique IDs: region + birth date + sequence + check digit.

    The sequence's parity carries the sex (odd male, even female) as in GB 11643,
    and each (region, birth date) starts at a random offset so that sequences do
    not all begin at 001.
    """

    def __init__(self, rng: random.Random):
        self._rng = rng
        self._next: dict[tuple[str, int], int] = {}

    def issue(self, region: str, birth: date, male: bool) -> str:
        key = (region, birth.toordinal())
        n = self._next.get(key) or self._rng.randrange(1, 300)
        if n >= 500:
            raise RuntimeError("sequence numbers exhausted for one birth date; the city is too large")
        self._next[key] = n + 1
        body = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{2 * n + male:03d}"
        return body + _check_digit(body)


# --- geography ---------------------------------------------------------------

_DISTRICTS: dict[str, tuple[str, int, tuple[str, ...]]] = {
    # name: (region code, share of generated communities, towns)
    "铜官区": ("340705", 28, ("幸福街道", "东郊街道", "友好街道", "官塘街道", "天井湖街道", "新城街道", "螺蛳山街道")),
    "义安区": ("340706", 20, ("五松镇", "胥坝乡", "顺安镇", "钟鸣镇", "天门镇", "西联镇", "东联镇")),
    "郊区": ("340711", 14, ("桥南街道", "安矿街道", "大通镇", "铜山镇", "灰河乡", "老洲乡", "陈瑶湖镇", "周潭镇")),
    "枞阳县": ("340722", 38, (
        "枞阳镇", "横埠镇", "项铺镇", "钱桥镇", "麒麟镇", "义津镇", "浮山镇", "会宫镇",
        "官埠桥镇", "金社镇", "老庄镇", "汤沟镇", "白梅乡", "铁铜乡",
    )),
}
_FIXED_COMMUNITIES = (
    ("铜官区", "幸福街道", "金口岭社区"),
    ("铜官区", "幸福街道", "幸福社区"),
    ("铜官区", "东郊街道", "东郊社区"),
    ("义安区", "五松镇", "荷花塘社区"),
    ("义安区", "五松镇", "五松社区"),
    ("义安区", "胥坝乡", "杨滨村"),
    ("义安区", "胥坝乡", "胥坝村"),
)
_STEM_FIRST = "东西南北新老金银翠青红白长永安和平龙凤狮桂梅松柏竹兰桥塘湖山河溪花湾岗圩林双高丰乐"
_STEM_SECOND = "山湖桥塘园岭冲湾圩庄岗坝港洲口埠林城苑溪井坊店集铺墩畈"
_STEM_THIRD = "东西南北新"
_RESERVED_STEMS = {"幸福", "东郊", "五松", "胥坝", "杨滨", "金口", "荷花"}
# The reference city: 439 villages/communities for about 520,000 households.
_HOUSEHOLDS_PER_COMMUNITY = 520_000 / 439
_GRIDS_PER_COMMUNITY = ((3, 2), (4, 3), (5, 4), (6, 3))  # (grids, weight): ~2,068 grids at full scale


@dataclass(frozen=True)
class _Grid:
    name: str
    worker: str
    phone: str


@dataclass(frozen=True)
class _Community:
    district: str
    region: str
    town: str
    name: str
    grids: tuple[_Grid, ...]

    @property
    def rural(self) -> bool:
        return self.name.endswith("村")


def _community_stems(rng: random.Random):
    two = [a + b for a in _STEM_FIRST for b in _STEM_SECOND if a != b and a + b not in _RESERVED_STEMS]
    rng.shuffle(two)
    yield from two
    three = [s + c for s in two for c in _STEM_THIRD]
    rng.shuffle(three)
    yield from three


def _build_geography(rng: random.Random, households: int) -> list[_Community]:
    places = list(_FIXED_COMMUNITIES)
    extra = max(0, round(households / _HOUSEHOLDS_PER_COMMUNITY) - len(places))
    districts = list(_DISTRICTS)
    shares = [_DISTRICTS[d][1] for d in districts]
    stems = _community_stems(rng)
    for _ in range(extra):
        district = rng.choices(districts, shares)[0]
        town = rng.choice(_DISTRICTS[district][2])
        village = town.endswith("乡") or (town.endswith("镇") and rng.random() < 0.75)
        places.append((district, town, next(stems) + ("村" if village else "社区")))
    counts, weights = zip(*_GRIDS_PER_COMMUNITY)
    communities = []
    for district, town, name in places:
        grids = tuple(
            _Grid(f"{name}第{k}网格", _random_name(rng, rng.random() < 0.4), _mobile(rng))
            for k in range(1, rng.choices(counts, weights)[0] + 1)
        )
        communities.append(_Community(district, _DISTRICTS[district][0], town, name, grids))
    return communities


# --- names and phones --------------------------------------------------------

# 贾 and 甄 are left out on purpose: they belong to the story households.
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤"
)
_SURNAME_CUM_WEIGHTS = tuple(
    sum(1 / (k + 6) for k in range(i + 1)) for i in range(len(_SURNAMES))
)
_MALE_CHARS = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林阳建国志文海峰立新永春德福生成荣顺"
_FEMALE_CHARS = "芳娜敏静丽艳娟霞燕玲桂英秀兰萍红梅琳洁婷雪倩颖慧琴莉云凤珍玉晶欣怡佳悦"


def _surname(rng: random.Random) -> str:
    return rng.choices(_SURNAMES, cum_weights=_SURNAME_CUM_WEIGHTS)[0]


def _given_name(rng: random.Random, male: bool) -> str:
    chars = _MALE_CHARS if male else _FEMALE_CHARS
    return rng.choice(chars) + (rng.choice(chars) if rng.random() < 0.7 else "")


def _random_name(rng: random.Random, male: bool) -> str:
    return _surname(rng) + _given_name(rng, male)


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


# --- people and households ---------------------------------------------------


class _Person:
    __slots__ = (
        "name", "male", "birth", "age", "id_no", "relation", "phone",
        "dead_on", "disability", "illness", "chronic",
    )

    def __init__(self, name: str, male: bool, birth: date, age: int, id_no: str, relation: str):
        self.name = name
        self.male = male
        self.birth = birth
        self.age = age  # at as_of
        self.id_no = id_no
        self.relation = relation
        self.phone: str | None = None
        self.dead_on: date | None = None
        self.disability: tuple[str, int, date] | None = None  # type, grade, issue date
        self.illness: tuple[str, date] | None = None  # diagnosis, date
        self.chronic = False


@dataclass
class _Roster:
    family_no: str
    category: str  # as the roster writes it, one of the aliases in rules.yaml
    since: date
    members: list[_Person]
    stopped: bool  # status 停发 for the whole family


@dataclass
class _Household:
    hukou_no: str
    community: _Community
    grid: _Grid
    address: str
    members: list[_Person]
    roster: _Roster | None = None


_SIZE_WEIGHTS = ((1, 22), (2, 30), (3, 24), (4, 13), (5, 8), (6, 3))

# Age bands: under 7, 7-17, 18-44, 45-59, 60 and over.
_MEDICAL_ANY = (0.55, 0.35, 0.38, 0.52, 0.72)  # share with any outpatient visit in 24 months
_MEDICAL_EXTRA = (2.5, 1.0, 1.5, 2.2, 3.5)  # mean further visits of those
_INPATIENT = (0.03, 0.015, 0.035, 0.07, 0.16)  # share with an inpatient stay in 24 months
_CHRONIC = (0.0, 0.002, 0.008, 0.04, 0.11)  # share with a chronic-disease outpatient scheme (门诊慢特病)


def _band(age: int) -> int:
    return 0 if age < 7 else 1 if age < 18 else 2 if age < 45 else 3 if age < 60 else 4


_DISABILITY_TYPES = (("肢体", 45), ("视力", 10), ("听力", 12), ("言语", 2), ("智力", 10), ("精神", 14), ("多重", 7))
_DISABILITY_CODES = {"视力": 1, "听力": 2, "言语": 3, "肢体": 4, "智力": 5, "精神": 6, "多重": 7}
_GRADE_TEXT = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
_DIAGNOSES = (
    ("恶性肿瘤", 50), ("尿毒症", 10), ("白血病", 5), ("重性精神病", 8), ("脑卒中后遗症", 10),
    ("慢性肾衰竭", 6), ("再生障碍性贫血", 2), ("耐多药肺结核", 2), ("器官移植术后", 2), ("血友病", 1),
)

# --- assistance --------------------------------------------------------------

_CATEGORY_LABELS = {
    # canonical category of rules.yaml: (label as written on the roster, weight)
    "特困": (("特困人员", 7), ("特困供养人员", 2), ("分散供养特困", 1)),
    "低保": (("城市低保", 0), ("农村低保", 0), ("最低生活保障", 1)),  # the weight 0 ones are chosen by place
    "低保边缘": (("低保边缘家庭", 4), ("低保边缘户", 1)),
    "刚性支出困难": (("刚性支出困难", 3), ("支出型困难家庭", 1)),
    "防止返贫监测": (("防止返贫监测对象", 4), ("监测对象", 1)),
}
_FAMILY_PREFIX = {"特困": "TK", "低保": "DB", "低保边缘": "BY", "刚性支出困难": "ZC", "防止返贫监测": "JC"}
_APPLICATION_MATTERS = (
    ("最低生活保障", 40), ("临时救助", 25), ("特困人员救助供养", 8), ("低保边缘家庭认定", 10),
    ("刚性支出困难家庭认定", 7), ("医疗救助", 10),
)
_ADJUSTMENTS = {
    "增发": ("家庭成员患病支出增加", "家庭收入减少", "新增保障人口"),
    "减发": ("家庭收入增加", "保障人口减少", "家庭成员就业"),
    "停发": ("家庭收入超过保障标准", "户籍迁出", "经核查不再符合条件"),
    "类别变更": ("由低保边缘调整为低保", "由低保调整为特困", "由低保调整为低保边缘"),
}

# --- medical -----------------------------------------------------------------

_HOSPITALS = (
    "铜陵市人民医院", "铜陵市立医院", "铜陵市中医医院", "铜陵市第三人民医院", "铜陵市妇幼保健院",
    "义安区人民医院", "郊区人民医院", "枞阳县人民医院", "安徽医科大学第一附属医院", "皖南医学院弋矶山医院",
)
_PHARMACIES = ("铜陵市仁和大药房", "铜陵市康民大药房", "铜陵市济民药店", "铜陵市同济堂药房")
_MEDICAL_DAYS = 730

# --- education ---------------------------------------------------------------

_URBAN_PRIMARY = ("铜陵市实验小学", "铜陵市第一小学", "铜陵市第五小学", "铜陵市人民小学", "铜陵市狮子山小学")
_URBAN_MIDDLE = ("铜陵市第三中学", "铜陵市第九中学", "铜陵市第十二中学", "铜陵市实验中学")
_HIGH_SCHOOLS = ("铜陵市第一中学", "铜陵市第三中学", "铜陵市第十五中学", "义安区第一中学", "枞阳县浮山中学")
_VOCATIONAL = ("铜陵理工学校", "铜陵市中等职业技术教育中心", "枞阳县中等职业学校")
_UNIVERSITIES = ("铜陵学院", "安徽大学", "安徽工业大学", "安徽师范大学", "安徽医科大学", "合肥工业大学", "安徽财经大学", "南京农业大学")
_COLLEGES = ("铜陵职业技术学院", "安徽工业职业技术学院", "安徽职业技术学院", "安徽医学高等专科学校")
_GRADUATE_SCHOOLS = ("中国科学技术大学", "安徽大学", "合肥工业大学", "南京大学")
_TUITION = {"本科": (4800, 5300, 5800, 6900), "专科": (4500, 5000, 5600), "研究生": (8000,)}

_SOCIAL_INSURANCE_MONTHS = 18
_PENSION = "企业职工基本养老保险"
_PROGRESS_EVERY = 100_000


# --- writers -----------------------------------------------------------------

_XLSX_MAX_ROWS = 1_048_576
_XLS_MAX_ROWS = 65_536
_EXCEL_EPOCH = date(1899, 12, 30).toordinal()
_COLUMN_LETTERS = [chr(ord("A") + i) for i in range(26)]
_STYLE_DATE, _STYLE_TITLE, _STYLE_HEADER = 1, 2, 3

_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STYLES_XML = (
    _XML_DECL + f'<styleSheet xmlns="{_NS_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="3">'
    '<font><sz val="11"/><name val="宋体"/><family val="3"/><charset val="134"/></font>'
    '<font><b/><sz val="14"/><name val="宋体"/><family val="3"/><charset val="134"/></font>'
    '<font><b/><sz val="11"/><name val="宋体"/><family val="3"/><charset val="134"/></font>'
    '</fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">'
    '<alignment horizontal="center"/></xf>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '</cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>'
)


class _XlsxSheet:
    def __init__(self, stream, name: str, widths: Sequence[int], hidden: bool):
        self.name = name
        self.hidden = hidden
        self.rows = 0
        self._stream = stream
        self._merges: list[str] = []
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths, 1)
        )
        self._buffer = [
            _XML_DECL,
            f'<worksheet xmlns="{_NS_MAIN}"><sheetFormatPr defaultRowHeight="15"/>',
            f"<cols>{cols}</cols><sheetData>" if cols else "<sheetData>",
        ]

    def write(self, values: Sequence, style: int = 0) -> None:
        self.rows += 1
        r = self.rows
        s = f' s="{style}"' if style else ""
        parts = [f'<row r="{r}">']
        for letter, v in zip(_COLUMN_LETTERS, values):
            if v is None:
                continue
            kind = type(v)
            if kind is str:
                space = ' xml:space="preserve"' if v != v.strip() else ""
                parts.append(f'<c r="{letter}{r}"{s} t="inlineStr"><is><t{space}>{escape(v)}</t></is></c>')
            elif kind is date:
                parts.append(f'<c r="{letter}{r}" s="{_STYLE_DATE}"><v>{v.toordinal() - _EXCEL_EPOCH}</v></c>')
            else:
                parts.append(f'<c r="{letter}{r}"{s}><v>{v!r}</v></c>')
        parts.append("</row>")
        self._buffer.append("".join(parts))
        if len(self._buffer) >= 1000:
            self._flush()

    def blank(self) -> None:
        self.rows += 1

    def merge_last_row(self, columns: int) -> None:
        self._merges.append(f"A{self.rows}:{_COLUMN_LETTERS[columns - 1]}{self.rows}")

    def _flush(self) -> None:
        self._stream.write("".join(self._buffer).encode("utf-8"))
        self._buffer = []

    def close(self) -> None:
        self._buffer.append("</sheetData>")
        if self._merges:
            refs = "".join(f'<mergeCell ref="{m}"/>' for m in self._merges)
            self._buffer.append(f'<mergeCells count="{len(self._merges)}">{refs}</mergeCells>')
        self._buffer.append(
            '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>'
        )
        self._flush()
        self._stream.close()


class _XlsxBook:
    """A streaming .xlsx: one sheet is open at a time and goes straight into the zip."""

    max_rows = _XLSX_MAX_ROWS

    def __init__(self, path: Path, stamp: datetime):
        self.path = path
        self._stamp = stamp
        self._zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self._sheets: list[_XlsxSheet] = []

    def _entry(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self._stamp.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    def sheet(self, name: str, widths: Sequence[int], hidden: bool = False) -> _XlsxSheet:
        if self._sheets:
            self._sheets[-1].close()
        part = f"xl/worksheets/sheet{len(self._sheets) + 1}.xml"
        sheet = _XlsxSheet(self._zip.open(self._entry(part), "w", force_zip64=True), name, widths, hidden)
        self._sheets.append(sheet)
        return sheet

    def close(self) -> None:
        self._sheets[-1].close()
        count = len(self._sheets)
        sheets = "".join(
            f'<sheet name={quoteattr(s.name)} sheetId="{i}"{" state=" + quoteattr("hidden") if s.hidden else ""}'
            f' r:id="rId{i}"/>'
            for i, s in enumerate(self._sheets, 1)
        )
        sheet_rels = "".join(
            f'<Relationship Id="rId{i}" Type="{_NS_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, count + 1)
        )
        sheet_types = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, count + 1)
        )
        stamp = self._stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = {
            "[Content_Types].xml": (
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                f"{sheet_types}"
                '<Override PartName="/xl/styles.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                '<Override PartName="/docProps/core.xml" '
                'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
                '<Override PartName="/docProps/app.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
                "</Types>"
            ),
            "_rels/.rels": (
                f'<Relationships xmlns="{_NS_PKG_REL}">'
                f'<Relationship Id="rId1" Type="{_NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
                '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/'
                'metadata/core-properties" Target="docProps/core.xml"/>'
                f'<Relationship Id="rId3" Type="{_NS_REL}/extended-properties" Target="docProps/app.xml"/>'
                "</Relationships>"
            ),
            "docProps/core.xml": (
                '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
                ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
                ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
                "<dc:creator>relief 示例数据</dc:creator>"
                f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
                f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
                "</cp:coreProperties>"
            ),
            "docProps/app.xml": (
                '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
                "<Application>relief</Application></Properties>"
            ),
            "xl/workbook.xml": (
                f'<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}">'
                f'<bookViews><workbookView activeTab="0"/></bookViews><sheets>{sheets}</sheets></workbook>'
            ),
            "xl/_rels/workbook.xml.rels": (
                f'<Relationships xmlns="{_NS_PKG_REL}">{sheet_rels}'
                f'<Relationship Id="rId{count + 1}" Type="{_NS_REL}/styles" Target="styles.xml"/>'
                "</Relationships>"
            ),
        }
        for name, xml in parts.items():
            self._zip.writestr(self._entry(name), (_XML_DECL + xml).encode("utf-8"))
        self._zip.writestr(self._entry("xl/styles.xml"), _STYLES_XML.encode("utf-8"))
        self._zip.close()


class _XlsSheet:
    def __init__(self, sheet, widths: Sequence[int]):
        self._sheet = sheet
        self.rows = 0
        self._date = xlwt.easyxf(num_format_str="YYYY-MM-DD")
        self._title = xlwt.easyxf("font: bold on, height 280; align: horiz center")
        self._header = xlwt.easyxf("font: bold on")
        self._plain = xlwt.Style.default_style
        for i, w in enumerate(widths):
            sheet.col(i).width = 256 * w

    @property
    def name(self) -> str:
        return self._sheet.name

    @name.setter
    def name(self, value: str) -> None:
        self._sheet.name = value

    def write(self, values: Sequence, style: int = 0) -> None:
        text_style = self._title if style == _STYLE_TITLE else self._header if style == _STYLE_HEADER else self._plain
        for c, v in enumerate(values):
            if v is not None:
                self._sheet.write(self.rows, c, v, self._date if type(v) is date else text_style)
        self.rows += 1

    def blank(self) -> None:
        self.rows += 1

    def merge_last_row(self, columns: int) -> None:
        self._sheet.merge(self.rows - 1, self.rows - 1, 0, columns - 1)


class _XlsBook:
    """A legacy BIFF8 workbook as older government systems still export; held in memory by xlwt."""

    max_rows = _XLS_MAX_ROWS

    def __init__(self, path: Path):
        self.path = path
        self._book = xlwt.Workbook(encoding="utf-8")

    def sheet(self, name: str, widths: Sequence[int], hidden: bool = False) -> _XlsSheet:
        return _XlsSheet(self._book.add_sheet(name), widths)

    def close(self) -> None:
        self._book.save(str(self.path))


class _Tally:
    """Rows written to one file, reported through the progress callback."""

    def __init__(self, name: str, progress: Callable[[str, int], None] | None):
        self.name = name
        self.rows = 0
        self._progress = progress

    def add(self) -> None:
        self.rows += 1
        if self._progress and self.rows % _PROGRESS_EVERY == 0:
            self._progress(self.name, self.rows)

    def done(self) -> None:
        if self._progress:
            self._progress(self.name, self.rows)


class _Series:
    """One logical table of a workbook.

    When a sheet is full the table continues on a new sheet with the same title
    and header, named base1, base2, … as big exports are, and each sheet gets
    its own 合计 row if the table has one.
    """

    def __init__(
        self, book, base: str, columns: Sequence[tuple[str, int]], tally: _Tally, limit: int, *,
        title: str | None = None, hidden: bool = False, total_columns: Sequence[int] = (),
    ):
        self._book = book
        self._base = base
        self._header = [h for h, _ in columns]
        self._widths = [w for _, w in columns]
        self._tally = tally
        self._title = title
        self._hidden = hidden
        self._total_columns = tuple(total_columns)
        footer = 1 if total_columns else 0
        self._limit = min(limit, book.max_rows - 1 - (1 if title else 0) - footer)
        self._row_cap = book.max_rows - footer
        self._sheets: list = []
        self._counts: list[int] = []
        self._sums = [0] * len(self._total_columns)

    def _next_sheet(self) -> None:
        self._finish_sheet()
        index = len(self._sheets) + 1
        if index == 2:
            self._sheets[0].name = f"{self._base}1"
        sheet = self._book.sheet(self._base if index == 1 else f"{self._base}{index}", self._widths, self._hidden)
        if self._title:
            sheet.write([self._title], _STYLE_TITLE)
            sheet.merge_last_row(len(self._header))
        sheet.write(self._header, _STYLE_HEADER)
        self._sheets.append(sheet)
        self._counts.append(0)

    def _finish_sheet(self) -> None:
        if not self._sheets or not self._total_columns:
            return
        footer: list = ["合计"] + [None] * (len(self._header) - 1)
        for column, cents in zip(self._total_columns, self._sums):
            footer[column] = round(cents / 100, 2)
        self._sheets[-1].write(footer)
        self._sums = [0] * len(self._total_columns)

    def append(self, row: Sequence, amounts: Sequence[int] = ()) -> None:
        if not self._sheets or self._counts[-1] == self._limit or self._sheets[-1].rows >= self._row_cap:
            self._next_sheet()
        self._sheets[-1].write(row)
        self._counts[-1] += 1
        for i, cents in enumerate(amounts):
            self._sums[i] += cents
        self._tally.add()

    def blank(self) -> None:
        if self._sheets and self._sheets[-1].rows < self._row_cap - 1:
            self._sheets[-1].blank()

    def close(self) -> dict[str, int]:
        if not self._sheets:
            self._next_sheet()
        self._finish_sheet()
        return {s.name: n for s, n in zip(self._sheets, self._counts)}


class _CsvTable:
    def __init__(self, path: Path, encoding: str, header: Sequence[str], tally: _Tally):
        self.path = path
        self._file = open(path, "w", encoding=encoding, newline="")
        self._writer = csv.writer(self._file, lineterminator="\r\n")
        self._writer.writerow(header)
        self._tally = tally
        self.rows = 0

    def append(self, row: Sequence) -> None:
        self._writer.writerow(row)
        self.rows += 1
        self._tally.add()

    def close(self) -> dict[str, int]:
        self._file.close()
        return {self.path.stem: self.rows}


class _Sometimes:
    """Picks the rare items of a stream that get a treatment (a damaged row, a late settlement).

    The items at fixed early positions always do, so that even a tiny city has
    some; beyond those a small random share does.
    """

    def __init__(self, rng: random.Random, rate: float, forced: Sequence[int] = (7, 41)):
        self._rng = rng
        self._rate = rate
        self._forced = set(forced)
        self._n = 0

    def __call__(self) -> bool:
        self._n += 1
        return self._n in self._forced or self._rng.random() < self._rate


# --- the city ----------------------------------------------------------------


def generate_city(
    out_dir: Path,
    households: int = 1200,
    seed: int = 7,
    as_of: date = SAMPLE_AS_OF,
    max_sheet_rows: int = 1_048_575,
    progress: Callable[[str, int], None] | None = None,
) -> SampleSummary:
    """Write the monthly exports of a synthetic city into `out_dir` (created if missing).

    `households` counts the three story households. The reference city is about
    520,000 households (~1.3 M people, ~7 M rows). A table longer than
    `max_sheet_rows` data rows, or than the format allows below its title and
    header, continues on further sheets. `progress(file name, rows so far)` is
    called every 100,000 rows of a file and once when the file is complete.
    """
    if households < len(STORIES):
        raise ValueError(f"households must be at least {len(STORIES)} (the story households)")
    if max_sheet_rows < 1:
        raise ValueError("max_sheet_rows must be positive")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _City(out_dir, households, random.Random(seed), as_of, max_sheet_rows, progress).run()


class _City:
    def __init__(
        self, out_dir: Path, households: int, rng: random.Random, as_of: date,
        max_sheet_rows: int, progress: Callable[[str, int], None] | None,
    ):
        self.out_dir = out_dir
        self.households = households
        self.rng = rng
        self.as_of = as_of
        self.limit = max_sheet_rows
        self.progress = progress
        self.ids = _IdAllocator(rng)
        self.communities = _build_geography(rng, households)
        self.community_cum_weights = []
        total = 0.0
        for _ in self.communities:
            total += rng.uniform(0.6, 1.4)
            self.community_cum_weights.append(total)
        self.by_name = {c.name: c for c in self.communities}
        self.stamp = datetime.combine(as_of, time(8, 30))
        self.medical_start = as_of - timedelta(days=_MEDICAL_DAYS)
        self.school_year = as_of.year if as_of.month >= 9 else as_of.year - 1
        # periods are month numbers (year * 12 + month - 1); the latest is the month before as_of
        self.latest_period = as_of.year * 12 + as_of.month - 2
        self.first_period = self.latest_period - _SOCIAL_INSURANCE_MONTHS + 1
        self.hukou_counter = 100_000_000
        self.family_counter = 0
        self.settlement_counter = 0
        self.people = 0

    # -- output files --

    def _open(self) -> None:
        d, rng, limit, as_of = self.out_dir, self.rng, self.limit, self.as_of
        self.tallies = {name: _Tally(name, self.progress) for name in _FILES}
        t = self.tallies
        self.books = {
            name: _XlsxBook(d / name, self.stamp)
            for name in (POPULATION_FILE, GRIDS_FILE, APPLICATIONS_FILE, MEDICAL_FILE,
                         DISABILITY_FILE, UNEMPLOYMENT_FILE, HEALTH_FILE)
        }
        # The roster comes as legacy .xls, as from older government systems; xlwt (archived upstream)
        # writes it where installed, as with the test extra that regenerates sample_data/.
        self.books[ROSTER_FILE] = (_XlsBook(d / ROSTER_FILE) if xlwt is not None
                                   else _XlsxBook(d / Path(ROSTER_FILE).with_suffix(".xlsx").name, self.stamp))
        b = self.books
        month = f"{as_of.year}年{as_of.month}月"
        self.population = _Series(
            b[POPULATION_FILE], "户籍人口", _POPULATION_COLUMNS, t[POPULATION_FILE], limit,
            title=f"铜陵市公安局户籍人口信息（截至{month}）",
        )
        self.roster = _Series(
            b[ROSTER_FILE], "名册", _ROSTER_COLUMNS, t[ROSTER_FILE], limit, title="铜陵市城乡社会救助对象名册",
        )
        start = self.medical_start
        self.medical = _Series(
            b[MEDICAL_FILE], "明细", _MEDICAL_COLUMNS, t[MEDICAL_FILE], limit,
            title=f"铜陵市医疗保障局{start.year}年{start.month}月至{month}医疗费用结算明细",
            total_columns=_MEDICAL_TOTAL_COLUMNS,
        )
        self.disability = _Series(
            b[DISABILITY_FILE], "持证残疾人", _DISABILITY_COLUMNS, t[DISABILITY_FILE], limit,
            title=f"铜陵市持证残疾人信息表（截至{month}）",
        )
        self.unemployment = _Series(
            b[UNEMPLOYMENT_FILE], "登记信息", _UNEMPLOYMENT_COLUMNS, t[UNEMPLOYMENT_FILE], limit,
        )
        self.social_insurance = _CsvTable(
            d / SOCIAL_INSURANCE_FILE, "gbk", _SOCIAL_INSURANCE_HEADER, t[SOCIAL_INSURANCE_FILE],
        )
        self.students = _CsvTable(d / STUDENTS_FILE, "utf-8-sig", _STUDENT_HEADER, t[STUDENTS_FILE])
        # Small tables that share a workbook with another are kept until the end,
        # because a workbook streams one sheet at a time.
        self.applications: list[list] = []
        self.adjustments: list[list] = []
        self.deaths: list[list] = []
        self.illnesses: list[list] = []
        self.late_settlements = _Sometimes(rng, 0.0015, forced=(20, 200))
        # Events of the last month, which the new-event rules look for; the first
        # of each kind always is one, so that the demo shows every rule.
        self.recent_working_age_deaths = _Sometimes(rng, 0.08, forced=(1,))
        self.recent_diagnoses = _Sometimes(rng, 0.05, forced=(1,))
        self.defects = {
            name: _Sometimes(rng, rate)
            for name, rate in (
                ("roster", 0.001), ("applications", 0.004), ("adjustments", 0.004),
                ("medical", 0.0002), ("disability", 0.002), ("social_insurance", 0.0002),
                ("unemployment", 0.002), ("deaths", 0.003), ("illness", 0.003), ("students", 0.0005),
            )
        }

    def _close(self) -> list[SampleFile]:
        sheets: dict[str, dict[str, int]] = {
            POPULATION_FILE: self.population.close(),
            ROSTER_FILE: self.roster.close(),
            MEDICAL_FILE: self.medical.close(),
            DISABILITY_FILE: self.disability.close(),
            UNEMPLOYMENT_FILE: self.unemployment.close(),
            SOCIAL_INSURANCE_FILE: self.social_insurance.close(),
            STUDENTS_FILE: self.students.close(),
            GRIDS_FILE: self.grid_sheets,
        }
        sheets[APPLICATIONS_FILE] = self._write_tables(APPLICATIONS_FILE, (
            ("救助申请", _APPLICATION_COLUMNS, self.applications, f"{self.as_of.year}年社会救助申请受理台账", False),
            ("动态调整", _ADJUSTMENT_COLUMNS, self.adjustments, None, False),
            ("备用", _SPARE_COLUMNS, _SPARE_ROWS, None, True),
        ))
        sheets[HEALTH_FILE] = self._write_tables(HEALTH_FILE, (
            ("死亡人员", _DEATH_COLUMNS, self.deaths, "死亡人员信息", False),
            ("重大疾病", _ILLNESS_COLUMNS, self.illnesses, None, False),
        ))
        for book in self.books.values():
            book.close()
        for name in _FILES:
            self.tallies[name].done()
        return [SampleFile(self.books[name].path if name in self.books else self.out_dir / name, sheets[name])
                for name in _FILES]

    def _write_tables(self, file: str, tables: Sequence[tuple]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for base, columns, rows, title, hidden in tables:
            series = _Series(self.books[file], base, columns, self.tallies[file], self.limit,
                             title=title, hidden=hidden)
            for row in rows:
                series.append(row)
            counts.update(series.close())
        return counts

    def run(self) -> SampleSummary:
        self._open()
        grids = _Series(self.books[GRIDS_FILE], "网格员名单", _GRID_COLUMNS, self.tallies[GRIDS_FILE], self.limit)
        for c in self.communities:
            for g in c.grids:
                grids.append([c.district, c.town, c.name, g.name, g.worker, g.phone])
        self.grid_sheets = grids.close()

        n = self.households
        stories = {n // 4: self._story_medical_surge, n // 2: self._story_new_disability,
                   3 * n // 4: self._story_dibao_to_tekun}
        # The last household, so that every household before it is the same as before this story existed.
        stories[next(i for i in range(n - 1, -1, -1) if i not in stories)] = self._story_household_medical_surge
        ghosts = {1: "float", n // 3: "check"}
        for index in range(n):
            story = stories.get(index)
            if story:
                story()
            else:
                self._random_household()
            ghost = ghosts.get(index) or ("check" if self.rng.random() < 0.0003 else None)
            if ghost:
                self._ghost_row(ghost)
            if index == n // 2:
                self.population.blank()
        files = self._close()
        return SampleSummary(
            files=files,
            people=self.people,
            households=n,
            records=sum(sum(f.sheets.values()) for f in files),
        )

    # -- households --

    def _date_before(self, lo: int, hi: int) -> date:
        return self.as_of - timedelta(days=self.rng.randint(lo, hi))

    def _birth(self, age: int) -> date:
        try:
            latest = self.as_of.replace(year=self.as_of.year - age)
        except ValueError:  # 29 February
            latest = self.as_of.replace(year=self.as_of.year - age, day=28)
        return latest - timedelta(days=self.rng.randrange(365))

    def _person(self, region: str, relation: str, male: bool, age: int, name: str) -> _Person:
        birth = self._birth(age)
        self.people += 1
        return _Person(name, male, birth, age, self.ids.issue(region, birth, male), relation)

    def _hukou_no(self) -> str:
        self.hukou_counter += self.rng.randint(1, 7)
        return f"340702{self.hukou_counter:09d}"

    def _address(self, c: _Community) -> str:
        rng = self.rng
        if c.rural:
            return f"铜陵市{c.district}{c.town}{c.name}{rng.randint(1, 12)}组{rng.randint(1, 80)}号"
        return (f"铜陵市{c.district}{c.name}{rng.randint(1, 48)}栋{rng.randint(1, 4)}单元"
                f"{rng.randint(1, 18)}{rng.randint(1, 4):02d}室")

    def _household(self, hukou_no: str, community: _Community, members: list[_Person]) -> _Household:
        return _Household(hukou_no, community, self.rng.choice(community.grids), self._address(community), members)

    def _random_members(self, region: str) -> list[_Person]:
        rng = self.rng
        size = rng.choices(*zip(*_SIZE_WEIGHTS))[0]
        if size == 1:
            male = rng.random() < 0.5
            age = rng.randint(60, 94) if rng.random() < 0.55 else rng.randint(20, 59)
            return [self._person(region, "户主", male, age, _random_name(rng, male))]
        head_age = int(rng.triangular(24, 88, 46))
        head_male = rng.random() < 0.82
        head_surname = _surname(rng)
        members = [self._person(region, "户主", head_male, head_age, head_surname + _given_name(rng, head_male))]
        family_surname = head_surname
        slots = size - 1
        if rng.random() < 0.86:
            gap = rng.randint(-1, 6)
            age = min(99, max(20, head_age - gap if head_male else head_age + gap))
            spouse_surname = _surname(rng)
            spouse_name = spouse_surname + _given_name(rng, not head_male)
            members.append(self._person(region, "配偶", not head_male, age, spouse_name))
            if not head_male:
                family_surname = spouse_surname
            slots -= 1
        if slots and head_age <= 58 and rng.random() < (0.5 if slots >= 3 else 0.2):
            for relation, male in (("父亲", True), ("母亲", False))[: min(slots, rng.randint(1, 2))]:
                age = min(99, head_age + rng.randint(22, 34))
                surname = head_surname if male else _surname(rng)
                members.append(self._person(region, relation, male, age, surname + _given_name(rng, male)))
                slots -= 1
        if slots >= 2 and head_age >= 58 and rng.random() < 0.7:
            son_age = head_age - rng.randint(24, 34)
            members.append(self._person(region, "子", True, son_age, family_surname + _given_name(rng, True)))
            slots -= 1
            if slots >= 2 and rng.random() < 0.6:
                age = max(20, son_age + rng.randint(-3, 3))
                members.append(self._person(region, "儿媳", False, age, _random_name(rng, False)))
                slots -= 1
            while slots:
                male = rng.random() < 0.52
                age = max(0, son_age - rng.randint(22, 34))
                members.append(self._person(region, "孙子" if male else "孙女", male, age,
                                            family_surname + _given_name(rng, male)))
                slots -= 1
        while slots:
            male = rng.random() < 0.52
            age = max(0, head_age - rng.randint(22, 38))
            name = family_surname + _given_name(rng, male)
            members.append(self._person(region, "子" if male else "女", male, age, name))
            slots -= 1
        return members

    def _random_health(self, p: _Person) -> None:
        rng = self.rng
        band = _band(p.age)
        if rng.random() < (0.003 if p.age < 60 else 0.012 if p.age < 75 else 0.05):
            recent = 16 <= p.age <= 59 and self.recent_working_age_deaths()
            p.dead_on = max(p.birth + timedelta(days=1), self._date_before(1, 28 if recent else 365))
        earliest = p.birth + timedelta(days=366)
        latest = p.dead_on or self.as_of
        if rng.random() < (0.008, 0.01, 0.02, 0.03, 0.07)[band] and earliest < latest:
            kind = rng.choices(*zip(*_DISABILITY_TYPES))[0]
            grade = rng.choices((1, 2, 3, 4), (12, 25, 30, 33))[0]
            first = max(earliest, date(2008, 1, 1))
            issued = first + timedelta(days=rng.randrange(max(1, (latest - first).days)))
            p.disability = (kind, grade, issued)
        if rng.random() < (0.001, 0.001, 0.002, 0.012, 0.03)[band] and earliest < latest:
            days = rng.randint(1, 28 if self.recent_diagnoses() else 6 * 365)
            diagnosed = max(earliest, latest - timedelta(days=days))
            p.illness = (rng.choices(*zip(*_DIAGNOSES))[0], diagnosed)
        p.chronic = p.illness is not None or rng.random() < _CHRONIC[band]

    def _random_household(self) -> None:
        rng = self.rng
        community = self.communities[
            rng.choices(range(len(self.communities)), cum_weights=self.community_cum_weights)[0]
        ]
        hh = self._household(self._hukou_no(), community, self._random_members(community.region))
        for p in hh.members:
            self._random_health(p)
            if p.age >= 18 and rng.random() < (0.75 if p.relation == "户主" else 0.35):
                p.phone = _mobile(rng) if rng.random() < 0.93 else f"0562-{rng.randint(2000000, 6999999)}"
        hh.roster = self._random_roster(hh)
        self._write_household(hh)
        for p in hh.members:
            self._write_disability(p)
            self._write_illness(p)
            self._write_death(p)
        if hh.roster:
            self._write_roster(hh)
            self._random_adjustments(hh)
        if rng.random() < (0.015 if hh.roster else 0.01):
            self._random_application(hh)
        for p in hh.members:
            self._write_medical(p, self._random_visits(hh, p))
            if p.dead_on is None:
                self._random_work(p)
                self._random_student(hh, p)

    def _random_roster(self, hh: _Household) -> _Roster | None:
        rng = self.rng
        members = hh.members
        chance = 0.058
        if any(p.disability and p.disability[1] <= 2 for p in members):
            chance += 0.12
        elif any(p.disability for p in members):
            chance += 0.05
        if any(p.illness for p in members):
            chance += 0.08
        if len(members) == 1 and members[0].age >= 70:
            chance += 0.04
        if hh.community.rural:
            chance += 0.02
        if rng.random() >= chance:
            return None
        # 特困 support goes to people who cannot work and have no one able to support them
        unable = all(p.age >= 60 or p.age < 16 or (p.disability and p.disability[1] <= 2) for p in members)
        if unable and rng.random() < 0.4:
            category = "特困"
        else:
            rural = hh.community.rural
            choices = (("低保", 60), ("低保边缘", 15), ("刚性支出困难", 10), ("防止返贫监测", 20 if rural else 3))
            category = rng.choices(*zip(*choices))[0]
        if category == "低保" and rng.random() < 0.93:
            label = "农村低保" if hh.community.rural else "城市低保"
        else:
            labels, weights = zip(*_CATEGORY_LABELS[category])
            label = rng.choices(labels, weights)[0]
        self.family_counter += 1
        family_no = f"{hh.community.region}{_FAMILY_PREFIX[category]}{self.family_counter:06d}"
        first = date(2014, 1, 1)
        since = first + timedelta(days=rng.randrange(max(1, (self.as_of - first).days - 20)))
        return _Roster(family_no, label, since, members, stopped=rng.random() < 0.02)

    def _ghost_row(self, damage: str) -> None:
        """A population row for nobody: its ID is damaged beyond repair, as happens in real exports."""
        rng = self.rng
        community = rng.choice(self.communities)
        male = rng.random() < 0.5
        age = rng.randint(20, 80)
        birth = self._birth(age)
        id_no = self.ids.issue(community.region, birth, male)
        cell = _excel_float(id_no) if damage == "float" else _wrong_check(id_no)
        self.population.append([
            self._hukou_no(), "户主", _random_name(rng, male), cell, community.name,
            rng.choice(community.grids).name, self._address(community), None,
        ])

    # -- value shapes --

    def _messy_id(self, id_no: str, rate: float = 0.01) -> str:
        rng = self.rng
        if id_no[17] == "X" and rng.random() < 0.35:
            id_no = id_no[:17] + "x"
        if rng.random() >= rate:
            return id_no
        shape = rng.randrange(3)
        if shape == 0:
            return id_no.translate(_FULL_WIDTH)
        if shape == 1:
            return "'" + id_no
        return rng.choice((f" {id_no}", f"{id_no} ", f"{id_no[:6]} {id_no[6:14]} {id_no[14:]}"))

    def _date_cell(self, d: date, text_rate: float = 0.05):
        rng = self.rng
        if rng.random() >= text_rate:
            return d
        shape = rng.randrange(4)
        if shape == 0:
            return f"{d.year}.{d.month}.{d.day}"
        if shape == 1:
            return f"{d.year}{d.month:02d}{d.day:02d}"
        if shape == 2:
            return d.year * 10000 + d.month * 100 + d.day
        return f"{d.year}/{d.month}/{d.day}"

    def _date_text(self, d: date) -> str:
        r = self.rng.random()
        if r < 0.85:
            return d.isoformat()
        if r < 0.95:
            return f"{d.year}/{d.month}/{d.day}"
        return f"{d.year}{d.month:02d}{d.day:02d}"

    def _amount_cell(self, cents: int):
        r = self.rng.random()
        if r < 0.02:
            return f"{cents / 100:,.2f}"
        if r < 0.03:
            return f"{cents / 100:.2f}元"
        return round(cents / 100, 2)

    def _bad_date(self) -> str:
        return self.rng.choice(("abc", "2026-02-30", "待补录", "0000-00-00"))

    def _damage(self, row: list, id_col: int, id_no: str, date_col: int) -> None:
        if self.rng.random() < 0.5:
            row[id_col] = _wrong_check(id_no)
        else:
            row[date_col] = self._bad_date()

    # -- rows --

    def _write_household(self, hh: _Household, clean: bool = False) -> None:
        for p in hh.members:
            self.population.append([
                hh.hukou_no, p.relation, p.name, p.id_no if clean else self._messy_id(p.id_no),
                hh.community.name, hh.grid.name, hh.address, p.phone,
            ])

    def _write_roster(self, hh: _Household, clean: bool = False) -> None:
        rng = self.rng
        r = hh.roster
        for p in r.members:
            if clean:
                id_cell = p.id_no
            elif p.birth.year < 2000 and rng.random() < 0.06:
                id_cell = _legacy_id(p.id_no)
            else:
                id_cell = self._messy_id(p.id_no)
            stopped = r.stopped or p.dead_on is not None
            row = [r.family_no, p.name, id_cell, r.category, r.since if clean else self._date_cell(r.since),
                   "停发" if stopped else "正常"]
            if not clean and self.defects["roster"]():
                self._damage(row, 2, p.id_no, 4)
            self.roster.append(row)

    def _random_adjustments(self, hh: _Household) -> None:
        rng = self.rng
        head = hh.roster.members[0]
        if hh.roster.stopped:
            kind = "停发"
        elif rng.random() < 0.1:
            kind = rng.choices(("增发", "减发", "类别变更"), (35, 35, 30))[0]
        else:
            kind = None
        if kind:
            self._adjustment(head, kind, self._date_before(1, 150), rng.choice(_ADJUSTMENTS[kind]))
        for p in hh.roster.members:
            if p.dead_on and p.dead_on + timedelta(days=10) < self.as_of:
                self._adjustment(p, "减发", p.dead_on + timedelta(days=rng.randint(10, 40)), "保障对象死亡")

    def _adjustment(self, p: _Person, kind: str, day: date, reason: str) -> None:
        day = min(day, self.as_of)
        row = [p.name, self._messy_id(p.id_no), kind, self._date_cell(day, 0.15), reason]
        if self.defects["adjustments"]():
            self._damage(row, 1, p.id_no, 3)
        self.adjustments.append(row)

    def _random_application(self, hh: _Household) -> None:
        rng = self.rng
        applicant = next((p for p in hh.members if p.dead_on is None and p.age >= 18), None)
        if applicant is None:
            return
        day = self._date_before(1, 120)
        if (self.as_of - day).days <= 20:
            status = rng.choice(("审核中", "待入户调查"))
        else:
            status = rng.choices(("已办结", "不予受理", "审核中", "待入户调查"), (6, 1, 2, 1))[0]
        matter = rng.choices(*zip(*_APPLICATION_MATTERS))[0]
        r = rng.random()
        shown = day if r < 0.4 else f"{day.year}/{day.month}/{day.day}" if r < 0.7 else \
            f"{day.year}年{day.month}月{day.day}日"
        row = [applicant.name, self._messy_id(applicant.id_no), matter, shown, status]
        if self.defects["applications"]():
            self._damage(row, 1, applicant.id_no, 3)
        self.applications.append(row)

    def _write_disability(self, p: _Person, clean: bool = False) -> None:
        if not p.disability:
            return
        kind, grade, issued = p.disability
        cert_no = f"{p.id_no}{_DISABILITY_CODES[kind]}{grade}"
        if clean:
            row = [p.name, p.id_no, cert_no, kind, _GRADE_TEXT[grade], issued]
        else:
            shown_grade = _GRADE_TEXT[grade] if self.rng.random() < 0.6 else grade
            row = [p.name, self._messy_id(p.id_no), cert_no, kind, shown_grade, self._date_cell(issued)]
            if self.defects["disability"]():
                self._damage(row, 1, p.id_no, 5)
        self.disability.append(row)

    def _write_illness(self, p: _Person, clean: bool = False) -> None:
        if not p.illness:
            return
        diagnosis, day = p.illness
        row = [p.name, p.id_no if clean else self._messy_id(p.id_no), diagnosis,
               day if clean else self._date_cell(day)]
        if not clean and self.defects["illness"]():
            self._damage(row, 1, p.id_no, 3)
        self.illnesses.append(row)

    def _write_death(self, p: _Person) -> None:
        if not p.dead_on:
            return
        row = [p.name, self._messy_id(p.id_no), self._date_cell(p.dead_on, 0.1)]
        if self.defects["deaths"]():
            self._damage(row, 1, p.id_no, 2)
        self.deaths.append(row)

    # -- medical --

    def _outpatient(self, hh: _Household, day: date) -> tuple:
        rng = self.rng
        total = int(min(3000.0, max(12.0, rng.lognormvariate(5.05, 0.75))) * 100)
        r = rng.random()
        if r < 0.3:
            return (day, "门诊", total, 0, rng.choice(_PHARMACIES))
        place = (f"{hh.community.town}卫生院" if hh.community.rural else f"{hh.community.name}卫生服务站") \
            if r < 0.55 else rng.choice(_HOSPITALS)
        return (day, "门诊", total, int(total * rng.uniform(0.35, 0.6)), place)

    def _inpatient(self, day: date, median: float = 9.3) -> tuple:
        rng = self.rng
        total = int(min(400_000.0, max(1500.0, rng.lognormvariate(median, 0.75))) * 100)
        return (day, "住院", total, int(total * rng.uniform(0.55, 0.8)), rng.choice(_HOSPITALS))

    def _chronic_visit(self, day: date, hospital: str) -> tuple:
        rng = self.rng
        total = int(min(3000.0, max(80.0, rng.lognormvariate(6.1, 0.5))) * 100)
        return (day, "门诊慢特病", total, int(total * rng.uniform(0.6, 0.85)), hospital)

    def _random_visits(self, hh: _Household, p: _Person) -> list[tuple]:
        rng = self.rng
        start = self.medical_start
        end = self.as_of if p.dead_on is None else min(p.dead_on, self.as_of)
        span = (end - start).days
        if span <= 0:
            return []
        band = _band(p.age)
        visits = []
        if rng.random() < _MEDICAL_ANY[band]:
            for _ in range(1 + int(rng.expovariate(1 / _MEDICAL_EXTRA[band]))):
                visits.append(self._outpatient(hh, start + timedelta(days=rng.randrange(span))))
        if p.chronic:
            hospital = rng.choice(_HOSPITALS)
            day = start + timedelta(days=rng.randrange(60))
            while day < end:
                visits.append(self._chronic_visit(day, hospital))
                day += timedelta(days=rng.randint(30, 75))
        if rng.random() < _INPATIENT[band]:
            for _ in range(1 if rng.random() < 0.8 else 2):
                visits.append(self._inpatient(start + timedelta(days=rng.randrange(span))))
        if p.illness and start <= p.illness[1] < end:
            for _ in range(rng.randint(1, 3)):
                day = p.illness[1] + timedelta(days=rng.randint(0, 150))
                if day < end:
                    visits.append(self._inpatient(day, median=10.0))
        visits.sort(key=lambda v: v[0])
        if visits and p.dead_on is None and self.late_settlements():
            # settled after the scan date: exports run a few days late; the scan must ignore these
            day = self.as_of + timedelta(days=rng.randint(1, 25))
            visits.append(self._outpatient(hh, day))
        return visits

    def _write_medical(self, p: _Person, visits: list[tuple], clean: bool = False) -> None:
        rng = self.rng
        for day, kind, total, fund, hospital in visits:
            self.settlement_counter += 1
            oop = total - fund
            number = f"YB{day.year}{day.month:02d}{day.day:02d}{self.settlement_counter:08d}"
            if clean:
                row = [number, p.name, p.id_no, kind, day, hospital,
                       round(total / 100, 2), round(fund / 100, 2), round(oop / 100, 2)]
            else:
                fund_cell = None if fund == 0 and rng.random() < 0.5 else self._amount_cell(fund)
                row = [number, p.name, self._messy_id(p.id_no, 0.004), kind, self._date_cell(day), hospital,
                       self._amount_cell(total), fund_cell, self._amount_cell(oop)]
                if self.defects["medical"]():
                    if rng.random() < 0.3 and p.id_no[17] != "X":
                        row[2] = _excel_float(p.id_no)
                    else:
                        self._damage(row, 2, p.id_no, 4)
            self.medical.append(row, (total, fund, oop))

    # -- work, unemployment, school --

    def _period_text(self, period: int) -> str:
        year, month = divmod(period, 12)
        if self.rng.random() < 0.08:
            return f"{year}-{month + 1:02d}"
        return f"{year}{month + 1:02d}"

    def _base_text(self, base: int) -> str:
        r = self.rng.random()
        if r < 0.05:
            return f"{base:,.2f}"
        if r < 0.1:
            return str(base)
        return f"{base:.2f}"

    def _write_contributions(self, p: _Person, bases: list[tuple[int, int]], clean: bool = False) -> None:
        for period, base in bases:
            if clean:
                self.social_insurance.append([p.id_no, p.name, _PENSION, f"{period // 12}{period % 12 + 1:02d}",
                                              f"{base:.2f}"])
                continue
            row = [self._messy_id(p.id_no, 0.003), p.name, _PENSION, self._period_text(period), self._base_text(base)]
            if self.defects["social_insurance"]():
                if self.rng.random() < 0.5:
                    row[0] = _wrong_check(p.id_no)
                else:
                    row[3] = self.rng.choice(("abc", f"{period // 12}13", "2026年"))
            self.social_insurance.append(row)

    def _random_work(self, p: _Person) -> None:
        rng = self.rng
        if not 18 <= p.age <= 59:
            return
        months = _SOCIAL_INSURANCE_MONTHS
        if rng.random() < 0.17:
            first = 0 if rng.random() < 0.8 else rng.randint(1, months - 1)
            last = months - 1
            pattern = rng.random()
            stopped = pattern < 0.05 and first + 5 <= months - 4
            if stopped:
                # contributions stop, leaving at least three missing months before the latest period
                last = rng.randint(first + 5, months - 4)
            dropped = not stopped and pattern < 0.08 and first <= 3
            factor = rng.uniform(0.40, 0.62)
            base = int(min(26000.0, max(4300.0, rng.lognormvariate(8.63, 0.35))) // 10 * 10)
            bases = []
            for i in range(first, last + 1):
                period = self.first_period + i
                if period % 12 == 6 and i > first:
                    base = int(base * rng.uniform(1.0, 1.06))
                bases.append((period, int(base * factor) if dropped and i >= months - 3 else base))
            self._write_contributions(p, bases)
            if stopped and rng.random() < 0.5:
                year, month = divmod(self.first_period + last + 1, 12)
                day = date(year, month + 1, 1) + timedelta(days=rng.randint(5, 40))
                if day < self.as_of:
                    self._registration(p, "失业登记", day)
        else:
            r = rng.random()
            if r < 0.01:
                self._registration(p, "失业登记", self._date_before(1, 365))
            elif r < 0.016:
                self._registration(p, "就业登记", self._date_before(1, 365))

    def _registration(self, p: _Person, kind: str, day: date) -> None:
        row = [p.name, self._messy_id(p.id_no), kind, self._date_cell(day)]
        if self.defects["unemployment"]():
            self._damage(row, 1, p.id_no, 3)
        self.unemployment.append(row)

    def _random_student(self, hh: _Household, p: _Person) -> None:
        rng = self.rng
        age = p.age
        rural = hh.community.rural
        if 6 <= age <= 11:
            stage, years = "小学", age - 6
            school = f"{hh.community.town}中心小学" if rural else rng.choice(_URBAN_PRIMARY)
        elif 12 <= age <= 14:
            stage, years = "初中", age - 12
            school = f"{hh.community.town}初级中学" if rural else rng.choice(_URBAN_MIDDLE)
        elif 15 <= age <= 17:
            if rng.random() >= 0.9:
                return
            stage, years = ("高中", age - 15) if rng.random() < 0.7 else ("中职", age - 15)
            school = rng.choice(_HIGH_SCHOOLS if stage == "高中" else _VOCATIONAL)
        elif 18 <= age <= 21:
            # a low-income family's child entering university is one of the triggers; make sure there are some
            entrant = age <= 19 and hh.roster is not None
            if not entrant and rng.random() >= 0.55:
                return
            years = 0 if entrant else age - 18
            stage = "本科" if years == 3 or rng.random() < 0.55 else "专科"
            school = rng.choice(_UNIVERSITIES if stage == "本科" else _COLLEGES)
        elif 22 <= age <= 24 and rng.random() < 0.08:
            stage, years = "研究生", age - 22
            school = rng.choice(_GRADUATE_SCHOOLS)
        else:
            return
        higher = stage in _TUITION
        enrolled = date(self.school_year - years, 9, rng.randint(1, 9) if higher else 1)
        tuition = str(rng.choice(_TUITION[stage])) if higher else "1200" if stage == "高中" else \
            "0" if stage == "中职" else ""
        row = [school, stage, p.name, self._messy_id(p.id_no), self._date_text(enrolled), tuition]
        if self.defects["students"]():
            self._damage(row, 3, p.id_no, 4)
        self.students.append(row)

    # -- the three stories of DESIGN §4 --

    def _story_household(self, key: str, community: str, people: Sequence[tuple[str, bool, int, str]]) -> _Household:
        c = self.by_name[community]
        members = [self._person(c.region, relation, male, age, name) for relation, male, age, name in people]
        members[0].phone = _mobile(self.rng)
        hh = self._household(STORIES[key], c, members)
        self._write_household(hh, clean=True)
        return hh

    def _days(self, *offsets: int) -> list[date]:
        return [self.as_of - timedelta(days=d) for d in offsets]

    def _story_medical_surge(self) -> None:
        """金口岭社区: the mother of a family outside assistance falls ill and her medical costs jump.

        Her out-of-pocket cost in the last 90 days (~20,700) is far above three times
        her 90-day average of the year before (~170) and above 5,000, and her
        out-of-pocket cost in the calendar year of SAMPLE_AS_OF is above 15,000.
        """
        father, mother, daughter = self._story_household("medical_surge", "金口岭社区", (
            ("户主", True, 58, "贾建华"), ("配偶", False, 55, "甄秀梅"), ("女", False, 28, "贾晓雨"),
        )).members
        daughter.phone = _mobile(self.rng)
        clinic = "金口岭社区卫生服务站"
        ordinary = [
            (day, "门诊", total, fund, clinic)
            for day, total, fund in zip(self._days(690, 610, 520, 430, 330, 240, 150),
                                        (26800, 31000, 22400, 35600, 29800, 41000, 32600),
                                        (12000, 14000, 10000, 17600, 14800, 20000, 16600))
        ]
        illness = [
            (self.as_of - timedelta(days=72), "住院", 3_862_000, 2_703_400, "铜陵市人民医院"),
            (self.as_of - timedelta(days=41), "门诊慢特病", 680_000, 408_000, "铜陵市人民医院"),
            (self.as_of - timedelta(days=15), "住院", 2_150_000, 1_505_000, "安徽医科大学第一附属医院"),
        ]
        self._write_medical(mother, ordinary + illness, clean=True)
        mother.illness = ("恶性肿瘤", self.as_of - timedelta(days=74))
        self._write_illness(mother, clean=True)
        self._write_medical(father, [(d, "门诊", 18600, 8400, clinic) for d in self._days(400, 95)], clean=True)
        self._write_medical(daughter, [(self.as_of - timedelta(days=210), "门诊", 12300, 5500, "铜陵市立医院")],
                            clean=True)
        for p, base in ((father, 6200), (daughter, 7400)):
            periods = range(self.first_period, self.latest_period + 1)
            self._write_contributions(p, [(period, base) for period in periods], clean=True)

    def _story_new_disability(self) -> None:
        """荷花塘社区: a man of 45, on no roster, has just been issued a 肢体 grade-2 certificate."""
        man, wife, son = self._story_household("new_disability", "荷花塘社区", (
            ("户主", True, 45, "甄志强"), ("配偶", False, 43, "贾丽娟"), ("子", True, 16, "甄浩然"),
        )).members
        man.disability = ("肢体", 2, self.as_of - timedelta(days=12))
        self._write_disability(man, clean=True)
        self._write_medical(man, [(d, "门诊", 24500, 11000, "义安区人民医院") for d in self._days(300, 120)], clean=True)
        self._write_medical(wife, [(self.as_of - timedelta(days=260), "门诊", 9800, 4200, "荷花塘社区卫生服务站")],
                            clean=True)
        enrolled = date(self.school_year - 1, 9, 1)
        self.students.append(["义安区第一中学", "高中", son.name, son.id_no, enrolled.isoformat(), "1200"])

    def _story_dibao_to_tekun(self) -> None:
        """杨滨村: a 低保 family in which every member now meets the 特困 conditions.

        The husband (68) holds a 肢体 grade-3 certificate and has heart disease, his
        wife is 65 and in poor health, and their son holds a 精神 grade-2 certificate.
        """
        hh = self._story_household("dibao_to_tekun", "杨滨村", (
            ("户主", True, 68, "贾福生"), ("配偶", False, 65, "甄桂兰"), ("子", True, 40, "贾小军"),
        ))
        husband, wife, son = hh.members
        husband.disability = ("肢体", 3, self.as_of - timedelta(days=3870))
        son.disability = ("精神", 2, self.as_of - timedelta(days=5020))
        husband.illness = ("冠心病", self.as_of - timedelta(days=3010))
        for p in hh.members:
            self._write_disability(p, clean=True)
        self._write_illness(husband, clean=True)
        self.family_counter += 1
        hh.roster = _Roster(f"{hh.community.region}DB{self.family_counter:06d}", "农村低保",
                            self.as_of - timedelta(days=2700), hh.members, stopped=False)
        self._write_roster(hh, clean=True)
        for p, hospital, offsets in (
            (husband, "义安区人民医院", range(700, 0, -45)),
            (wife, "胥坝乡卫生院", range(690, 0, -60)),
        ):
            self._write_medical(p, [(d, "门诊慢特病", 31000, 24000, hospital) for d in self._days(*offsets)],
                                clean=True)
        self._write_medical(son, [(d, "门诊", 15200, 9100, "铜陵市第三人民医院") for d in self._days(500, 200)],
                            clean=True)

    def _story_household_medical_surge(self) -> None:
        """金口岭社区: the parents' medical costs both rise, neither enough alone; the son's contributions stopped.

        In the last 90 days the father paid 3,100 out of pocket and the mother 2,400: neither
        reaches 5,000, but the household's 5,500 does, at many times its earlier 90-day
        average. The son (35) has paid no contributions for the last four months and nobody
        else in the family pays any.
        """
        father, mother, son, _ = self._story_household("household_medical_surge", "金口岭社区", (
            ("户主", True, 62, "贾德明"), ("配偶", False, 60, "甄玉珍"), ("子", True, 35, "贾文斌"),
            ("孙女", False, 8, "贾思琪"),
        )).members
        clinic = "金口岭社区卫生服务站"
        self._write_medical(father, [
            *((day, "门诊", 26000, 12000, clinic) for day in self._days(330, 210)),
            (self.as_of - timedelta(days=58), "住院", 1_450_000, 1_140_000, "铜陵市人民医院"),
        ], clean=True)
        self._write_medical(mother, [
            (self.as_of - timedelta(days=280), "门诊", 21000, 9000, clinic),
            *((day, "门诊慢特病", 300_000, 180_000, "铜陵市立医院") for day in self._days(45, 12)),
        ], clean=True)
        periods = range(self.first_period, self.latest_period - 3)
        self._write_contributions(son, [(period, 5800) for period in periods], clean=True)
