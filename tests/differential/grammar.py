"""A typed SQL grammar for the differential tester.

A query is a tree of nodes; each renders itself against a `names` function that maps a
table slot to the table's full name on one target (`my.db.t_a` on fedsql, `dt.t_a` on
the oracle). Every node can also list smaller variants of itself (`shrink`), which the
minimizer walks to find the smallest query that still differs.
"""

import datetime
import decimal
import random

from data import DATE, DEC, FLOAT, INT, TEXT, TS, TSTZ, TEXTS, KEYWORDS, column_kinds

BOOL = "bool"
NUMERIC = (INT, DEC, FLOAT)
KINDS = column_kinds()


def q(s):
    return "'" + s.replace("'", "''") + "'"


# Where `render` collects literal values as parameters (`%s`), or None: literals inline.
PARAMS = None


def render_with_parameters(node, names):
    """`node` rendered for a driver's placeholders (`%s`; a `%` of the SQL doubled), and
    the values of its literals in order."""
    global PARAMS
    PARAMS = []
    try:
        return node.render(names), PARAMS
    finally:
        PARAMS = None


class Expr:
    """`fmt` with `{0}`, `{1}`, ... filled by the rendered `args`; a literal also has the
    Python `value` a driver sends for it as a parameter."""

    NO_VALUE = object()

    def __init__(self, kind, fmt, *args, agg=False, value=NO_VALUE):
        self.kind, self.fmt, self.args, self.agg, self.value = kind, fmt, list(args), agg, value

    def render(self, names):
        if PARAMS is None:
            return self.fmt.format(*[a.render(names) for a in self.args])
        if self.value is not Expr.NO_VALUE:
            PARAMS.append(self.value)
            return "%s"
        return self.fmt.replace("%", "%%").format(*[a.render(names) for a in self.args])

    def shrink(self):
        for a in self.args:
            if isinstance(a, Expr) and a.kind == self.kind and a.agg == self.agg:
                yield a
        for i, a in enumerate(self.args):
            for smaller in a.shrink():
                args = list(self.args)
                args[i] = smaller
                yield Expr(self.kind, self.fmt, *args, agg=self.agg)


def lit(kind, text, value=Expr.NO_VALUE):
    return Expr(kind, text.replace("{", "{{").replace("}", "}}"), value=value)


TRUE = lit(BOOL, "TRUE")


class Table:
    """One table reference: `slot` picks its source on each run."""

    def __init__(self, slot, table, alias):
        self.slot, self.table, self.alias = slot, table, alias

    def render(self, names):
        return f"{names(self.slot, self.table)} AS {self.alias}"

    def shrink(self):
        return iter(())

    def slots(self):
        return [(self.slot, self.table)]


class Derived:
    """`(SELECT ... ORDER BY key LIMIT n) AS alias`: a subquery in FROM with its own limit."""

    def __init__(self, select, alias):
        self.select, self.alias = select, alias

    def render(self, names):
        return f"({self.select.render(names)}) AS {self.alias}"

    def shrink(self):
        for s in self.select.shrink():
            yield Derived(s, self.alias)

    def slots(self):
        return self.select.slots()


class Join:
    def __init__(self, left, kind, right, on):
        self.left, self.kind, self.right, self.on = left, kind, right, on

    def render(self, names):
        if self.kind == "CROSS":
            return f"{self.left.render(names)} CROSS JOIN {self.right.render(names)}"
        return f"{self.left.render(names)} {self.kind} JOIN {self.right.render(names)} ON {self.on.render(names)}"

    def shrink(self):
        yield self.left
        for k in ("INNER", "LEFT"):
            if self.kind not in ("INNER", "CROSS") and k != self.kind:
                yield Join(self.left, k, self.right, self.on)
        for l in self.left.shrink():
            yield Join(l, self.kind, self.right, self.on)
        for r in self.right.shrink():
            yield Join(self.left, self.kind, r, self.on)
        if self.on is not None:
            for o in self.on.shrink():
                yield Join(self.left, self.kind, self.right, o)

    def slots(self):
        return self.left.slots() + self.right.slots()


class Select:
    def __init__(self, items, from_, where=None, group=None, having=None, distinct=False,
                 order=None, limit=None, offset=None):
        self.items = items            # [(Expr, alias)]
        self.from_ = from_
        self.where = where
        self.group = group or []      # [Expr]
        self.having = having
        self.distinct = distinct
        self.order = order or []      # [(position or Expr, "ASC"/"DESC", "NULLS FIRST"/...)]
        self.limit, self.offset = limit, offset

    def copy(self, **kw):
        s = Select(self.items, self.from_, self.where, self.group, self.having, self.distinct,
                   self.order, self.limit, self.offset)
        s.__dict__.update(kw)
        return s

    def render(self, names):
        out = ["SELECT "]
        if self.distinct:
            out.append("DISTINCT ")
        out.append(", ".join(f"{e.render(names)} AS {a}" for e, a in self.items))
        out.append(f" FROM {self.from_.render(names)}")
        if self.where is not None:
            out.append(f" WHERE {self.where.render(names)}")
        if self.group:
            out.append(" GROUP BY " + ", ".join(g.render(names) for g in self.group))
        if self.having is not None:
            out.append(f" HAVING {self.having.render(names)}")
        out.append(render_order(self.order, self.limit, self.offset, names))
        return "".join(out)

    def ordered(self):
        """The ORDER BY as [(position, "ASC"/"DESC", "NULLS FIRST"/"NULLS LAST")] when it
        names output positions, True when it has expressions, else False."""
        if self.order and all(isinstance(p, int) for p, _, _ in self.order):
            return list(self.order)
        return bool(self.order)

    def limited(self):
        """(limit, offset) when either is given, else None."""
        return (self.limit, self.offset) if self.limit is not None or self.offset is not None else None

    def slots(self):
        return self.from_.slots() + sub_slots([self.where, self.having] + [e for e, _ in self.items])

    def shrink(self):
        if self.where is not None:
            yield self.copy(where=None)
            for w in self.where.shrink():
                yield self.copy(where=w)
        if self.having is not None:
            yield self.copy(having=None)
        if self.limit is not None or self.offset is not None:
            yield self.copy(limit=None, offset=None)
            if self.offset is not None:
                yield self.copy(offset=None)
        if self.order and self.limit is None:
            yield self.copy(order=[])
        if self.distinct:
            yield self.copy(distinct=False)
        if len(self.items) > 1:
            for i in range(len(self.items)):
                items = self.items[:i] + self.items[i + 1:]
                order = [(p if p <= i else p - 1, d, n) for p, d, n in self.order
                         if isinstance(p, int) and p != i + 1]
                yield self.copy(items=items, order=order)
        for f in self.from_.shrink():
            yield self.copy(from_=f)
        for i, (e, a) in enumerate(self.items):
            for s in e.shrink():
                items = list(self.items)
                items[i] = (s, a)
                yield self.copy(items=items)
        if self.having is not None:
            for h in self.having.shrink():
                yield self.copy(having=h)


class SetOp:
    def __init__(self, left, op, right, order=None, limit=None, offset=None):
        self.left, self.op, self.right = left, op, right
        self.order, self.limit, self.offset = order or [], limit, offset

    def render(self, names):
        return (f"({self.left.render(names)}) {self.op} ({self.right.render(names)})"
                + render_order(self.order, self.limit, self.offset, names))

    def ordered(self):
        """The ORDER BY as [(position, "ASC"/"DESC", "NULLS FIRST"/"NULLS LAST")] when it
        names output positions, True when it has expressions, else False."""
        if self.order and all(isinstance(p, int) for p, _, _ in self.order):
            return list(self.order)
        return bool(self.order)

    def limited(self):
        """(limit, offset) when either is given, else None."""
        return (self.limit, self.offset) if self.limit is not None or self.offset is not None else None

    def slots(self):
        return self.left.slots() + self.right.slots()

    def shrink(self):
        yield self.left
        yield self.right
        if self.limit is not None:
            yield SetOp(self.left, self.op, self.right, self.order, None, None)
        if self.op != "UNION ALL":
            yield SetOp(self.left, "UNION ALL", self.right, self.order, self.limit, self.offset)
        for l in self.left.shrink():
            if len(l.items) == len(self.left.items):
                yield SetOp(l, self.op, self.right, self.order, self.limit, self.offset)
        for r in self.right.shrink():
            if len(r.items) == len(self.right.items):
                yield SetOp(self.left, self.op, r, self.order, self.limit, self.offset)


class Sub(Expr):
    """A predicate over a subquery: EXISTS, IN, NOT IN."""

    def __init__(self, fmt, outer, select):
        super().__init__(BOOL, fmt)
        self.outer, self.select = outer, select

    def render(self, names):
        o = self.outer.render(names) if self.outer is not None else ""
        return self.fmt.replace("{o}", o).replace("{s}", self.select.render(names))

    def shrink(self):
        for s in self.select.shrink():
            if len(s.items) == len(self.select.items):
                yield Sub(self.fmt, self.outer, s)


def sub_slots(exprs):
    out = []
    for e in exprs:
        if isinstance(e, Sub):
            out += e.select.slots()
        elif isinstance(e, Expr):
            out += sub_slots(e.args)
    return out


def render_order(order, limit, offset, names):
    out = []
    if order:
        keys = []
        for p, d, n in order:
            keys.append(f"{p if isinstance(p, int) else p.render(names)} {d} {n}")
        out.append(" ORDER BY " + ", ".join(keys))
    if limit is not None:
        out.append(f" LIMIT {limit}")
    if offset is not None:
        out.append(f" OFFSET {offset}")
    return "".join(out)


class Col(Expr):
    def __init__(self, kind, alias, name):
        super().__init__(kind, f"{alias}.{name}")
        self.alias, self.name = alias, name


# ------------------------------------------------------------------ generator

class Generator:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.slot = 0
        self.alias_n = 0

    def chance(self, p):
        return self.r.random() < p

    def pick(self, xs):
        return self.r.choice(xs)

    def new_alias(self, prefix):
        self.alias_n += 1
        return f"{prefix}{self.alias_n}"

    def table(self, name):
        t = Table(self.slot, name, self.new_alias(name[-1]))
        self.slot += 1
        return t

    # ---- scopes: [(alias, {column: (kind, nullable)})]

    def scope_of(self, from_):
        if isinstance(from_, Table):
            return [(from_.alias, KINDS[from_.table])]
        if isinstance(from_, Derived):
            return [(from_.alias, {a: (e.kind, True) for e, a in from_.select.items})]
        return self.scope_of(from_.left) + self.scope_of(from_.right)

    def columns(self, scope, kind=None):
        return [Col(k, a, c) for a, cols in scope for c, (k, _) in cols.items() if kind is None or k == kind]

    # ---- literals

    def literal(self, kind):
        r = self.r
        if kind == INT:
            v = self.pick([0, 1, -1, 3, 7, 42, 100, -42, 2147483647, 5, 10])
            return lit(INT, str(v), v)
        if kind == DEC:
            v = self.pick(["1.5", "-2.5", "0.01", "10.50", "0.0000000001", "3.33",
                           "12345678901234567890.0123456789", "0", "-10.50"])
            return lit(DEC, v, decimal.Decimal(v))
        if kind == FLOAT:
            v = self.pick(['1.5', '0.1', '-1.5', '3.141592653589793', '0', '1e15'])
            return lit(FLOAT, f"CAST({v} AS DOUBLE PRECISION)", float(v))
        if kind == TEXT:
            v = self.pick(TEXTS + KEYWORDS)
            return lit(TEXT, q(v), v)
        if kind == DATE:
            v = self.pick(['2024-01-19', '2024-03-01', '2024-02-29', '2024-06-15', '2023-12-31'])
            return lit(DATE, f"DATE '{v}'", datetime.date.fromisoformat(v))
        if kind == TS:
            v = self.pick(['2024-03-05 00:00:00', '2024-03-10 12:30:00', '2024-02-29 23:59:59.999999', '2024-04-01 06:00:00'])
            return lit(TS, f"TIMESTAMP '{v}'", datetime.datetime.fromisoformat(v))
        if kind == TSTZ:
            v = self.pick(['2025-01-02 00:00:00+00', '2025-01-05 12:00:00+00', '2025-01-03 09:00:00+09', '2025-01-10 00:00:00+00'])
            return lit(TSTZ, f"CAST('{v}' AS TIMESTAMP WITH TIME ZONE)", datetime.datetime.fromisoformat(v + ":00"))
        raise ValueError(kind)

    # ---- scalar expressions

    def expr(self, kind, scope, depth=0):
        cols = self.columns(scope, kind)
        if depth >= 2 or self.chance(0.55):
            if cols and self.chance(0.85):
                return self.pick(cols)
            if kind in (DATE, TS, TSTZ, TEXT, DEC, FLOAT) and not cols and depth < 2 and self.chance(0.5):
                pass
            else:
                return self.literal(kind)
        e = lambda k=kind: self.expr(k, scope, depth + 1)
        choices = {
            INT: [
                lambda: Expr(INT, "({0} + {1})", e(), e()),
                lambda: Expr(INT, "({0} - {1})", e(), e()),
                lambda: Expr(INT, "({0} * {1})", e(), self.literal(INT)),
                lambda: Expr(INT, "({0} % {1})", e(), lit(INT, self.pick(["3", "7", "-5"]))),
                lambda: Expr(INT, "({0} / {1})", e(), lit(INT, self.pick(["3", "7", "-2"]))),
                lambda: Expr(INT, "abs({0})", e()),
                lambda: Expr(INT, "(-{0})", e()),
                lambda: Expr(INT, "char_length({0})", e(TEXT)),
                lambda: Expr(INT, "coalesce({0}, {1})", e(), self.literal(INT)),
                lambda: Expr(INT, "nullif({0}, {1})", e(), self.literal(INT)),
                lambda: Expr(INT, "CASE WHEN {0} THEN {1} ELSE {2} END", self.pred(scope, depth + 1), e(), e()),
                lambda: Expr(INT, "CAST(EXTRACT(YEAR FROM {0}) AS INTEGER)", e(DATE)),
                lambda: Expr(INT, "CAST(EXTRACT(DAY FROM {0}) AS INTEGER)", e(TS)),
                lambda: Expr(INT, "CAST(EXTRACT(HOUR FROM {0}) AS INTEGER)", e(TSTZ)),
                lambda: Expr(INT, "CAST({0} AS BIGINT)", e(INT)),
            ],
            DEC: [
                lambda: Expr(DEC, "({0} + {1})", e(), e()),
                lambda: Expr(DEC, "({0} - {1})", e(), e(INT)),
                lambda: Expr(DEC, "({0} * {1})", e(), lit(DEC, self.pick(["2", "0.5", "-1.25"]))),
                lambda: Expr(DEC, "abs({0})", e()),
                lambda: Expr(DEC, "(-{0})", e()),
                lambda: Expr(DEC, "coalesce({0}, {1})", e(), self.literal(DEC)),
                lambda: Expr(DEC, "CAST({0} AS NUMERIC(20,2))", e(INT)),
                lambda: Expr(DEC, "CASE WHEN {0} THEN {1} ELSE {2} END", self.pred(scope, depth + 1), e(), e()),
                lambda: Expr(DEC, "ceil({0})", e()),
                lambda: Expr(DEC, "floor({0})", e()),
                lambda: Expr(DEC, "round({0}, 1)", e()),
            ],
            FLOAT: [
                lambda: Expr(FLOAT, "({0} * {1})", e(), self.literal(FLOAT)),
                lambda: Expr(FLOAT, "({0} + {1})", e(), e()),
                lambda: Expr(FLOAT, "CAST({0} AS DOUBLE PRECISION)", e(INT)),
                lambda: Expr(FLOAT, "abs({0})", e()),
                lambda: Expr(FLOAT, "coalesce({0}, {1})", e(), self.literal(FLOAT)),
            ],
            TEXT: [
                lambda: Expr(TEXT, "lower({0})", e()),
                lambda: Expr(TEXT, "upper({0})", e()),
                lambda: Expr(TEXT, "({0} || {1})", e(), e()),
                lambda: Expr(TEXT, "concat({0}, {1})", e(), e()),
                lambda: Expr(TEXT, "substr({0}, {1}, {2})", e(), lit(INT, self.pick(["1", "2"])), lit(INT, self.pick(["1", "3"]))),
                lambda: Expr(TEXT, "trim({0})", e()),
                lambda: Expr(TEXT, "rtrim({0})", e()),
                lambda: Expr(TEXT, "replace({0}, 'a', 'A')", e()),
                lambda: Expr(TEXT, "CAST({0} AS TEXT)", e(INT)),
                lambda: Expr(TEXT, "coalesce({0}, {1})", e(), self.literal(TEXT)),
                lambda: Expr(TEXT, "CASE WHEN {0} THEN {1} ELSE {2} END", self.pred(scope, depth + 1), e(), e()),
            ],
            DATE: [
                lambda: Expr(DATE, "CAST({0} AS DATE)", e(TS)),
                lambda: Expr(DATE, "coalesce({0}, {1})", e(), self.literal(DATE)),
            ],
            TS: [
                lambda: Expr(TS, "date_trunc('day', {0})", e()),
                lambda: Expr(TS, "date_trunc('month', {0})", e()),
                lambda: Expr(TS, "CAST({0} AS TIMESTAMP)", e(DATE)),
            ],
            TSTZ: [
                lambda: Expr(TSTZ, "date_trunc('hour', {0})", e()),
                lambda: Expr(TSTZ, "coalesce({0}, {1})", e(), self.literal(TSTZ)),
            ],
        }[kind]
        return self.pick(choices)()

    def kinds_in(self, scope):
        return sorted({k for _, cols in scope for k, _ in cols.values()})

    # ---- predicates

    def pred(self, scope, depth=0, sources=None):
        r = self.chance
        if depth < 2 and r(0.25):
            op = self.pick(["AND", "OR"])
            return Expr(BOOL, "({0} " + op + " {1})", self.pred(scope, depth + 1, sources),
                        self.pred(scope, depth + 1, sources))
        if depth < 2 and r(0.08):
            return Expr(BOOL, "NOT ({0})", self.pred(scope, depth + 1, sources))
        if sources is not None and depth < 2 and r(0.15):
            return self.sub_pred(scope, sources)
        kind = self.pick(self.kinds_in(scope))
        x = self.expr(kind, scope, depth + 1)
        choice = self.r.random()
        if choice < 0.4:
            op = self.pick(["=", "<>", "<", "<=", ">", ">="])
            other = self.literal(kind) if r(0.6) else self.expr(kind, scope, depth + 1)
            return Expr(BOOL, "{0} " + op + " {1}", x, other)
        if choice < 0.5:
            return Expr(BOOL, "{0} IS " + self.pick(["NULL", "NOT NULL"]), x)
        if choice < 0.62:
            items = [self.literal(kind) for _ in range(self.r.randint(1, 4))]
            if r(0.2):
                items.append(lit(kind, "NULL"))
            fmt = "{0} " + self.pick(["IN", "NOT IN"]) + " (" + ", ".join("{%d}" % (i + 1) for i in range(len(items))) + ")"
            return Expr(BOOL, fmt, x, *items)
        if choice < 0.72:
            lo, hi = sorted([self.literal(kind), self.literal(kind)], key=lambda l: l.fmt)
            return Expr(BOOL, "{0} " + self.pick(["BETWEEN", "NOT BETWEEN"]) + " {1} AND {2}", x, lo, hi)
        if choice < 0.8:
            # Parenthesized: sqlparser binds `a IS DISTINCT FROM b AND c` as `a IS DISTINCT FROM (b AND c)`.
            return Expr(BOOL, "({0} IS " + self.pick(["DISTINCT", "NOT DISTINCT"]) + " FROM {1})", x, self.literal(kind))
        if kind != TEXT:
            x = self.expr(TEXT, scope, depth + 1)
        pattern = self.pick(["a%", "%e", "%a%", "A%", "_", "__", "%\\_%", "50\\%", "%가%", "%\"%", "%'%", "b%", "%\\\\%", "apple"])
        op = self.pick(["LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"])
        return Expr(BOOL, "{0} " + op + " {1}", x, lit(TEXT, q(pattern)))

    def sub_pred(self, scope, sources):
        """EXISTS / IN / NOT IN over t_b or t_c, maybe correlated."""
        inner = self.table(self.pick(["t_b", "t_c"]))
        sources.append(inner.slot)
        iscope = [(inner.alias, KINDS[inner.table])]
        int_col = Col(INT, inner.alias, "a_id" if inner.table == "t_b" else "w")
        where = None
        if self.chance(0.5):
            where = self.pred(iscope, 2)
        outer_ints = self.columns(scope, INT)
        kind = self.pick(["EXISTS", "NOT EXISTS", "IN", "NOT IN"])
        if kind.endswith("EXISTS"):
            corr = Expr(BOOL, "{0} = {1}", int_col, self.pick(outer_ints)) if outer_ints else TRUE
            where = corr if where is None else Expr(BOOL, "({0} AND {1})", corr, where)
            sel = Select([(lit(INT, "1"), "one")], inner, where)
            return Sub(kind + " ({s})", None, sel)
        sel = Select([(int_col, "v")], inner, where)
        outer = self.pick(outer_ints) if outer_ints else self.literal(INT)
        return Sub("{o} " + kind + " ({s})", outer, sel)

    # ---- FROM

    def from_(self):
        shape = self.r.random()
        if shape < 0.45:
            return self.leaf()
        left = self.leaf()
        right = self.leaf(["t_b", "t_c", "t_a"])
        j = self.join(left, right)
        if shape > 0.85:
            third = self.leaf(["t_c", "t_b"])
            j = self.join(j, third)
        return j

    def leaf(self, names=("t_a", "t_b", "t_a")):
        t = self.table(self.pick(list(names)))
        if self.chance(0.15):
            return self.derived(t)
        return t

    def derived(self, t):
        scope = [(t.alias, KINDS[t.table])]
        cols = list(KINDS[t.table])
        picked = self.r.sample(cols, k=min(len(cols), self.r.randint(2, 4)))
        key = "id" if "id" in KINDS[t.table] else None
        items = [(Col(KINDS[t.table][c][0], t.alias, c), c) for c in picked]
        if key and key not in picked:
            items.append((Col(INT, t.alias, key), key))
        where = self.pred(scope, 1) if self.chance(0.4) else None
        order = []
        limit = None
        if key:
            order = [(Col(INT, t.alias, key), self.pick(["ASC", "DESC"]), "NULLS LAST")]
            limit = self.r.randint(1, 30)
        sel = Select(items, t, where, order=order, limit=limit,
                     offset=self.pick([None, None, 2]) if limit else None)
        return Derived(sel, self.new_alias("q"))

    def join(self, left, right):
        ls, rs = self.scope_of(left), self.scope_of(right)
        kind = self.pick(["INNER", "INNER", "LEFT", "LEFT", "RIGHT", "FULL", "CROSS"])
        if kind == "CROSS" and (isinstance(left, Join)):
            kind = "INNER"
        on = None
        if kind != "CROSS":
            for k in (INT, TEXT, INT):
                lc, rc = self.columns(ls, k), self.columns(rs, k)
                if lc and rc and self.chance(0.8):
                    on = Expr(BOOL, "{0} = {1}", self.pick(lc), self.pick(rc))
                    break
            if on is None:
                on = Expr(BOOL, "{0} = {1}", self.pick(self.columns(ls, INT) or [lit(INT, "1")]),
                          self.pick(self.columns(rs, INT) or [lit(INT, "1")]))
            if self.chance(0.2):
                on = Expr(BOOL, "({0} AND {1})", on, self.pred(rs if self.chance(0.5) else ls, 2))
        return Join(left, kind, right, on)

    # ---- SELECT

    def select(self, allow_agg=True, nitems=None, kinds=None):
        from_ = self.from_()
        scope = self.scope_of(from_)
        sources = []
        where = self.pred(scope, 0, sources) if self.chance(0.7) else None
        if allow_agg and kinds is None and self.chance(0.35):
            return self.aggregate(from_, scope, where)
        free = nitems is None and kinds is None  # not a set operation's branch
        n = nitems or self.r.randint(1, 4)
        kinds = kinds or [self.pick(self.kinds_in(scope)) for _ in range(n)]
        items = [(self.expr(k, scope), f"c{i + 1}") for i, k in enumerate(kinds)]
        if free and self.chance(0.2):
            items.append((self.window(scope, exact=not allow_agg), f"c{len(items) + 1}"))
        distinct = self.chance(0.15)
        return Select(items, from_, where, distinct=distinct)

    def window(self, scope, exact=False):
        """A window function whose answer doesn't depend on how ties are broken: ranks,
        and aggregates over the whole partition or up to the current row's peers (the
        default RANGE frame); never row_number, lag or a ROWS frame, nor a sum of doubles.
        `exact` (a set operation's branch) also leaves out avg: fedsql's decimal avg has
        scale + 4 digits where PostgreSQL's has 16 or more, and a UNION widening it to
        another column's scale would compare digits fedsql never computed."""
        keys = [self.expr(self.pick(self.kinds_in(scope)), scope, 1) for _ in range(self.r.choice([0, 1, 1, 2]))]
        order = [(self.expr(self.pick(self.kinds_in(scope)), scope, 1), self.pick(["", " ASC", " DESC"]),
                  self.pick(["", " NULLS FIRST", " NULLS LAST"])) for _ in range(self.r.choice([0, 1, 1, 2]))]
        f = self.pick(["rank", "dense_rank", "count*", "count", "sum", "min", "max"] + ([] if exact else ["avg"]))
        if f in ("rank", "dense_rank") and not order:
            order = [(self.expr(self.pick(self.kinds_in(scope)), scope, 1), "", "")]
        args = []
        if f in ("rank", "dense_rank"):
            kind, call = INT, f + "()"
        elif f == "count*":
            kind, call = INT, "count(*)"
        else:
            # A double sum depends on the order it adds in (1e150 + 0.1 ...), which a
            # set operation or DISTINCT over the window would then compare exactly.
            numeric = [k for k in self.kinds_in(scope) if k in NUMERIC and k != FLOAT]
            if not numeric:
                f = "count"
            x = self.expr(self.pick(numeric if f in ("sum", "avg") else self.kinds_in(scope)), scope, 1)
            args.append(x)
            kind = INT if f == "count" else x.kind if f in ("min", "max") else DEC if x.kind != FLOAT else FLOAT
            call = f + "({0})"
        spec = []
        if keys:
            spec.append("PARTITION BY " + ", ".join("{%d}" % (len(args) + i) for i in range(len(keys))))
            args += keys
        if order:
            spec.append("ORDER BY " + ", ".join("{%d}%s%s" % (len(args) + i, d, n) for i, (_, d, n) in enumerate(order)))
            args += [e for e, _, _ in order]
        return Expr(kind, call + " OVER (" + " ".join(spec) + ")", *args)

    def aggregate(self, from_, scope, where):
        keys = []
        for _ in range(self.r.choice([0, 1, 1, 2])):
            k = self.pick(self.kinds_in(scope))
            keys.append(self.expr(k, scope, 1))
        aggs = []
        for _ in range(self.r.randint(1, 3)):
            aggs.append(self.agg(scope))
        items = [(k, f"g{i + 1}") for i, k in enumerate(keys)] + [(a, f"a{i + 1}") for i, a in enumerate(aggs)]
        having = None
        if keys and self.chance(0.3):
            having = Expr(BOOL, "{0} " + self.pick([">", ">=", "<"]) + " {1}",
                          self.agg(scope, numeric_only=True), lit(INT, self.pick(["0", "1", "2"])))
        return Select(items, from_, where, group=keys, having=having)

    def agg(self, scope, numeric_only=False):
        kinds = [k for k in self.kinds_in(scope) if k in NUMERIC]
        f = self.pick(["count*", "count", "count_distinct", "sum", "avg", "min", "max", "stddev", "stddev_pop",
                       "variance", "var_pop", "stddev_samp", "var_samp"])
        if f == "count*":
            return Expr(INT, "count(*)", agg=True)
        if f in ("count", "count_distinct", "min", "max") and not numeric_only:
            x = self.expr(self.pick(self.kinds_in(scope)), scope, 1)
            if f == "count_distinct":
                return Expr(INT, "count(DISTINCT {0})", x, agg=True)
            return Expr(INT if f == "count" else x.kind, f + "({0})", x, agg=True)
        x = self.expr(self.pick(kinds), scope, 1)
        return Expr(DEC if x.kind != FLOAT else FLOAT, f + "({0})", x, agg=True)

    def query(self):
        """One query with its table slots numbered from 0."""
        self.slot = 0
        self.alias_n = 0
        shape = self.r.random()
        if shape < 0.12:
            left = self.select(allow_agg=False)
            right = self.select(allow_agg=False, kinds=[e.kind for e, _ in left.items])
            right.items = [(e, a) for (e, _), (_, a) in zip(right.items, left.items)]
            op = self.pick(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"])
            s = SetOp(left, op, right)
        else:
            s = self.select()
        if self.chance(0.35):
            n = len(s.items if isinstance(s, Select) else s.left.items)
            s.order = [(i + 1, self.pick(["ASC", "DESC"]), self.pick(["NULLS FIRST", "NULLS LAST"]))
                       for i in self.r.sample(range(n), n)]
            if self.chance(0.6):
                s.limit = self.r.randint(0, 25)
                if self.chance(0.3):
                    s.offset = self.r.randint(1, 10)
        return s
