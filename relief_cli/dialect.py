"""One SQL for both stores: relief's SQL is written once, in SQLite's dialect, and translated
for PostgreSQL when the store is a server (sqlglot parses it; the rewrites below cover what
sqlglot leaves as SQLite wrote it). Functions SQLite has and PostgreSQL lacks (julianday,
date with modifiers, yuan, mask_name, ...) are created on the server by COMPAT_FUNCTIONS,
with SQLite's results: same dates as text, same evidence strings.

Translated statements are cached by their text: a scan builds each rule's query once.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sqlglot
from sqlglot import exp

from .compat_sql import COMPAT_FUNCTIONS  # noqa: F401 - the functions the translations call on a server

# psycopg's placeholders are %s / %(name)s: the translation marks them, escapes every other %, then
# puts them back.
_MARK = "\x01"
_WITHOUT_ROWID = re.compile(r"\)\s*WITHOUT\s+ROWID\s*$", re.IGNORECASE)
_TEMP_INDEX = re.compile(r"^(CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?)temp\.", re.IGNORECASE)
_PRINTF_PART = re.compile(r"%(0?)(\d*)(?:\.(\d+))?([dfs%])")


_RENAMED = {"julianday": "sqlite_julianday", "date": "sqlite_date"}
# A comparison used as a number (SUM(a > b), (a = b) + (c = d)) is 0 or 1 in SQLite.
_PREDICATES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Like, exp.Exists,
               exp.Between, exp.And, exp.Or, exp.Not, exp.NullSafeEQ, exp.NullSafeNEQ)
_NUMERIC_PARENTS = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Sum, exp.Avg, exp.Max, exp.Min, exp.Mod)


class Untranslatable(ValueError):
    """SQL that relief must not send to a server (a construct with no PostgreSQL meaning)."""


@lru_cache(maxsize=4096)
def to_postgres(sql: str) -> str:
    """SQLite-dialect SQL (with ? or :name placeholders) as PostgreSQL for psycopg."""
    text = sql.strip().rstrip(";")
    text = _WITHOUT_ROWID.sub(")", text)
    text = _TEMP_INDEX.sub(r"\1", text)  # an index lives in its table's schema
    tree = sqlglot.parse_one(text, read="sqlite")
    tree = tree.transform(_rewrite, copy=False)
    tree = _mark_booleans(tree)
    for select in list(tree.find_all(exp.Select)):
        _group_bare_columns(select)
    tree = tree.transform(_placeholder, copy=False)  # last: the rewrites may have moved them
    out = tree.sql(dialect="postgres")
    out = out.replace("%", "%%")
    return re.sub(_MARK + r"(\w*)" + _MARK, lambda m: f"%({m.group(1)})s" if m.group(1) else "%s", out)


def writes(sql: str) -> bool:
    """Whether a statement (SQLite dialect) changes anything: DML or DDL anywhere in its tree."""
    try:
        trees = sqlglot.parse(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return True
    kinds = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Command, exp.Merge,
             exp.TruncateTable)
    return len(trees) != 1 or any(t is None or isinstance(t, kinds) or t.find(*kinds) for t in trees)


def _placeholder(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Placeholder):
        name = node.this if isinstance(node.this, str) and node.this != "?" else ""
        return exp.Var(this=f"{_MARK}{name}{_MARK}")
    return node


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Table):
        return _table(node)
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier) and not node.this.quoted \
            and node.name.lower() == "rowid" and not node.table:
        return exp.column("ctid")  # insertion order of a table never updated (reject_sheets)
    if isinstance(node, exp.Insert):
        return _insert(node)
    if isinstance(node, exp.Ordered) and isinstance(node.parent, exp.OnConflict):
        return node.this
    if isinstance(node, exp.ColumnDef):
        return _column(node)
    if isinstance(node, exp.Identifier) and isinstance(node.parent, exp.Schema) \
            and isinstance(node.parent.parent, exp.Create) and node.arg_key == "expressions":
        # SQLite's untyped column holds what it is given: numbers here
        return exp.ColumnDef(this=node.copy(), kind=exp.DataType.build("numeric"))
    if isinstance(node, exp.Date) and len(node.expressions) == 0 and not node.args.get("zone"):
        return exp.Anonymous(this="sqlite_date", expressions=[node.this])
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name in _RENAMED:
            node.set("this", _RENAMED[name])
        elif name == "json":  # SQLite's json(text): the text as JSON
            return _as_json(node.expressions[0])
        elif name == "printf":
            return _printf(node)
        elif name == "total":
            return exp.Coalesce(this=exp.Sum(this=node.expressions[0]), expressions=[exp.Literal.number(0.0)])
        elif name == "json_array_length":
            return exp.Anonymous(this="json_array_length", expressions=[_as_json(node.expressions[0])])
        return node
    if isinstance(node, exp.Subquery) and not node.alias and isinstance(node.parent, (exp.From, exp.Join)):
        # PostgreSQL before 16 wants a name for every subquery in FROM.
        node.set("alias", exp.TableAlias(this=exp.to_identifier(f"_sub{id(node) % 100000}")))
        return node
    if isinstance(node, exp.Coalesce):
        args = [node.this, *node.expressions]
        if any(isinstance(a, exp.Literal) and a.is_string for a in args):
            # COALESCE(grade, ''): SQLite mixes types, PostgreSQL wants them alike.
            for a in args:
                if not (isinstance(a, exp.Literal) and a.is_string):
                    a.replace(exp.Cast(this=a.copy(), to=exp.DataType.build("text")))
        return node
    if isinstance(node, exp.JSONObject):
        args = [part for kv in node.expressions for part in (kv.this, kv.expression)]
        return exp.Anonymous(this="json_build_object", expressions=args)
    if isinstance(node, exp.GroupConcat):
        # string_agg takes text; with DISTINCT the cast goes inside it (CAST(DISTINCT x) is no SQL).
        target = node.this if isinstance(node.this, exp.Distinct) else node
        key = "expressions" if target is not node else "this"
        values = target.expressions if key == "expressions" else [node.this]
        casts = [exp.Cast(this=v.copy(), to=exp.DataType.build("text")) for v in values]
        target.set(key, casts if key == "expressions" else casts[0])
        if node.args.get("separator") is None:
            node.set("separator", exp.Literal.string(","))
        return node
    if isinstance(node, exp.JSONExtractScalar) or isinstance(node, exp.JSONExtract):
        node.set("this", _as_json(node.this))
        return node
    if isinstance(node, exp.StrPosition):
        return exp.Anonymous(this="strpos", expressions=[node.this, node.args["substr"]])
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.INT:
        # SQLite's CAST(... AS INTEGER): 64 bits, towards zero (0.5 -> 0), from text or number. Changed in
        # place: transform does not enter a node it was given in exchange, and what is cast needs rewriting too.
        inner = exp.Cast(this=node.this, to=exp.DataType.build("numeric"))
        node.set("this", exp.Anonymous(this="trunc", expressions=[inner]))
        node.set("to", exp.DataType.build("bigint"))
        return node
    return node


def _as_json(value: exp.Expression) -> exp.Expression:
    return exp.Cast(this=value, to=exp.DataType.build("json"))


def _table(node: exp.Table) -> exp.Expression:
    node.set("indexed", None)  # NOT INDEXED / INDEXED BY: SQLite planner hints
    schema = node.args.get("db")
    if schema is not None and schema.name.lower() == "main":
        node.set("db", None)
    elif schema is not None and schema.name.lower() == "temp":
        node.set("db", exp.to_identifier("pg_temp"))
    inner = node.this
    if isinstance(inner, exp.Anonymous) and inner.name.lower() == "json_each":
        # SQLite's json_each: key, value (scalars as text, objects and arrays as JSON text), type.
        # Its values are text here: SQL comparing one with a number says CAST(value AS INTEGER).
        func = exp.Anonymous(this="sqlite_json_each", expressions=[exp.Cast(this=inner.expressions[0],
                                                                            to=exp.DataType.build("text"))])
        return exp.Table(this=func, alias=exp.TableAlias(this=exp.to_identifier(node.alias or "json_each")))
    return node


def _insert(node: exp.Insert) -> exp.Expression:
    alternative = (node.args.get("alternative") or "").upper()
    if alternative == "IGNORE":
        node.set("alternative", None)
        node.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
    elif alternative:
        raise Untranslatable(f"INSERT OR {alternative}")
    return node


def _column(node: exp.ColumnDef) -> exp.Expression:
    kind = node.args.get("kind")
    constraints = node.args.get("constraints") or []
    primary = any(isinstance(c.kind, exp.PrimaryKeyColumnConstraint) for c in constraints)
    if kind is None:  # SQLite's untyped column holds what it is given: numbers here
        node.set("kind", exp.DataType.build("numeric"))
    elif kind.this in (exp.DataType.Type.INT, exp.DataType.Type.BIGINT) and primary and node.name in ("id", "_id"):
        # SQLite's INTEGER PRIMARY KEY is the rowid: new rows get the next number.
        node.set("kind", exp.DataType.build("bigint"))
        node.append("constraints", exp.ColumnConstraint(kind=exp.GeneratedAsIdentityColumnConstraint(this=False)))
    elif kind.this == exp.DataType.Type.INT:
        node.set("kind", exp.DataType.build("bigint"))
    elif kind.this == exp.DataType.Type.FLOAT or kind.this == exp.DataType.Type.DOUBLE:
        node.set("kind", exp.DataType.build("double"))
    return node


def _printf(node: exp.Anonymous) -> exp.Expression:
    """printf with a literal format of %d, %0Nd, %.Nf and %s: the same text from PostgreSQL's functions."""
    fmt, *args = node.expressions
    if not isinstance(fmt, exp.Literal) or not fmt.is_string:
        raise Untranslatable("printf 的格式必须是字符串常量")
    pieces: list[exp.Expression] = []
    pos, values = 0, iter(args)
    for m in _PRINTF_PART.finditer(fmt.this):
        if m.start() > pos:
            pieces.append(exp.Literal.string(fmt.this[pos:m.start()]))
        pos = m.end()
        zero, width, places, conv = m.groups()
        if conv == "%":
            pieces.append(exp.Literal.string("%"))
            continue
        value = next(values)
        if conv == "d":
            text = exp.Cast(this=exp.Cast(this=exp.Anonymous(this="trunc", expressions=[
                exp.Cast(this=value, to=exp.DataType.build("numeric"))]), to=exp.DataType.build("bigint")),
                to=exp.DataType.build("text"))
        elif conv == "f":
            text = exp.Cast(this=exp.Anonymous(this="round", expressions=[
                exp.Cast(this=value, to=exp.DataType.build("numeric")), exp.Literal.number(int(places or 6))]),
                to=exp.DataType.build("text"))
        else:
            text = exp.Cast(this=value, to=exp.DataType.build("text"))
        if width:
            text = exp.Anonymous(this="lpad", expressions=[text, exp.Literal.number(int(width)),
                                                          exp.Literal.string("0" if zero else " ")])
        pieces.append(text)
    if pos < len(fmt.this):
        pieces.append(exp.Literal.string(fmt.this[pos:]))
    if not pieces:
        return exp.Literal.string("")
    out = pieces[0]
    for piece in pieces[1:]:
        out = exp.DPipe(this=out, expression=piece)
    return exp.Paren(this=out)


def _mark_booleans(tree: exp.Expression) -> exp.Expression:
    """SQLite's comparisons are numbers: where one is summed, added or returned as a column,
    PostgreSQL is given CAST(... AS INT)."""
    for node in list(tree.find_all(*_PREDICATES)):
        parent = node.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        anchor = node
        while isinstance(anchor.parent, exp.Paren):
            anchor = anchor.parent
        if isinstance(parent, _NUMERIC_PARENTS) or (isinstance(parent, exp.Select) and anchor in parent.expressions) \
                or (isinstance(parent, exp.Alias) and isinstance(parent.parent, exp.Select)):
            cast = exp.Cast(this=exp.Null(), to=exp.DataType.build("int"))
            anchor.replace(cast)
            cast.set("this", anchor)  # the same node: predicates inside it are still found above
    return tree


def _group_bare_columns(select: exp.Select) -> None:
    """SQLite lets a grouped query name a column it does not group by (relief does so only where the
    grouping key determines it: GROUP BY h.id_no, then h.last_paid). PostgreSQL wants it grouped;
    grouping by it too changes no group there."""
    group = select.args.get("group")
    if group is None or not group.expressions:
        return
    sources = {s.alias_or_name for s in _sources(select)}
    aliases = {e.alias for e in select.expressions if isinstance(e, exp.Alias)}
    have = {g.sql() for g in group.expressions}
    for part in [*select.expressions, select.args.get("having"), select.args.get("order")]:
        if part is None:
            continue
        for column in _bare_columns(part, select):
            if not column.table and column.name in aliases:
                continue
            if column.table and column.table not in sources:
                continue
            if column.sql() not in have:
                have.add(column.sql())
                group.append("expressions", column.copy())


def _sources(select: exp.Select) -> list[exp.Expression]:
    found = []
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None:
        found.append(from_.this)
    for join in select.args.get("joins") or []:
        found.append(join.this)
    return found


def _bare_columns(node: exp.Expression, scope: exp.Select):
    """Columns of `scope`'s rows outside any aggregate or window (also inside a correlated subquery)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (exp.AggFunc, exp.Window)):
            continue
        if isinstance(n, exp.Column):
            yield n
            continue
        if isinstance(n, exp.Select) and n is not scope:
            inner = {s.alias_or_name for s in _sources(n)}
            for c in n.find_all(exp.Column):
                if c.table and c.table not in inner and not any(isinstance(a, (exp.AggFunc, exp.Window))
                                                                for a in _ancestors(c, n)):
                    yield c
            continue
        stack.extend(n.iter_expressions())


def _ancestors(node: exp.Expression, stop: exp.Expression):
    n = node.parent
    while n is not None and n is not stop:
        yield n
        n = n.parent
