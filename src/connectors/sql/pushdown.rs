//! Which parts of a single-source subtree may run at the source.
//!
//! Federation hands a source the largest subtree that touches only it. Some expressions
//! mean something else there (MySQL's `/` on integers is exact division, `CONCAT` with a
//! NULL is NULL in SQL but not in DataFusion, day boundaries of a timestamptz follow the
//! remote session's time zone, ...). Such nodes stay in the engine; only the parts below
//! them are sent. An allow-list keeps this conservative: a function goes to a source only
//! when it means the same thing there.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, JoinType, NullEquality};
use datafusion::error::Result;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::{
    BinaryExpr, Cast, Expr, ExprSchemable, Extension, Filter, LogicalPlan, LogicalPlanBuilder,
    Operator, TableProviderFilterPushDown, TryCast,
};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion_federation::{FederatedPlanNode, FederationPlanner};

use super::dialect::SourceDialect;
use super::unparse::{for_unparser, neutral_aggregate_names, pushed_limits};

/// Aggregates with one meaning in DataFusion and in every source (after the renames in
/// `dialect.rs`).
const AGGREGATES: &[&str] = &[
    "count", "sum", "min", "max", "avg", "stddev", "stddev_pop", "var", "var_pop",
];

/// Scalar functions with one meaning everywhere.
const SCALARS: &[&str] = &["abs", "ceil", "floor", "lower", "upper", "coalesce", "nullif"];

/// Extra scalar functions PostgreSQL and Redshift share with DataFusion.
const PG_SCALARS: &[&str] = &["date_part", "date_trunc", "substr", "btrim", "ltrim", "rtrim"];

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

/// The variance family, which `AGGREGATES` names.
const STATISTICS: &[&str] = &["stddev", "stddev_pop", "var", "var_pop"];

fn integer_typed(e: &Expr, schema: &DFSchema) -> bool {
    e.get_type(schema).map(|t| t.is_integer()).unwrap_or(true)
}

/// Whether decimal `+ - *` needs more than the 38 digits DataFusion caps its type at.
/// MySQL computes it exactly (65 digits) and the provider cannot fit its answer into
/// the capped type: "Cannot represent BigDecimal as i128", with no typed cause left.
fn decimal_past_38(left: &Expr, op: Operator, right: &Expr, schema: &DFSchema) -> bool {
    let digits = |e: &Expr| match e.get_type(schema) {
        Ok(DataType::Decimal128(p, s) | DataType::Decimal256(p, s)) => Some((p as i16, s as i16)),
        _ => None,
    };
    let (Some((p1, s1)), Some((p2, s2))) = (digits(left), digits(right)) else {
        return false;
    };
    let needed = match op {
        Operator::Multiply => p1 + p2 + 1,
        _ => s1.max(s2) + (p1 - s1).max(p2 - s2) + 1,
    };
    needed > 38
}

fn string_typed(e: &Expr, schema: &DFSchema) -> bool {
    e.get_type(schema).map(|t| is_string(&t)).unwrap_or(true)
}

/// Comparing strings at a source follows its collation: MySQL's usual `*_ci` ones make
/// 'a' = 'A' and 'a ' = 'a'; PostgreSQL orders by locale. DataFusion compares bytes.
/// Equality is the same in PostgreSQL/Redshift (deterministic collations); ordering
/// nowhere.
fn string_comparison_pushable(op: Operator, dialect: SourceDialect) -> bool {
    dialect != SourceDialect::MySql
        && matches!(
            op,
            Operator::Eq | Operator::NotEq | Operator::IsDistinctFrom | Operator::IsNotDistinctFrom
        )
}

/// Days from 1970-01-01 to 0001-01-01 and to 9999-12-31.
const FIRST_DAY: i64 = -719_162;
const LAST_DAY: i64 = 2_932_896;

/// Whether a date or instant literal lies in years 1 to 9999, which every source writes
/// and reads as the engine does. DataFusion turns `EXTRACT(YEAR FROM d) = 0` into a range
/// from `'0000-01-01'`, a date PostgreSQL rejects (it has no year 0 and spells earlier
/// years with BC), and MySQL's dates end at 9999.
/// This is the one test here that reads a value rather than a type, so a plan made for a
/// parameter (`plan_cache`) is kept only for values that pass it.
pub fn calendar_literal_pushable(v: &datafusion::common::ScalarValue) -> bool {
    use datafusion::common::ScalarValue as V;
    let day = |units: i64, per_day: i64| units.div_euclid(per_day);
    let days = match v {
        V::Date32(Some(d)) => *d as i64,
        V::Date64(Some(ms)) => day(*ms, 86_400_000),
        V::TimestampSecond(Some(t), _) => day(*t, 86_400),
        V::TimestampMillisecond(Some(t), _) => day(*t, 86_400_000),
        V::TimestampMicrosecond(Some(t), _) => day(*t, 86_400_000_000),
        V::TimestampNanosecond(Some(t), _) => day(*t, 86_400_000_000_000),
        _ => return true,
    };
    (FIRST_DAY..=LAST_DAY).contains(&days)
}

fn expr_pushable(expr: &Expr, schema: &DFSchema, dialect: SourceDialect) -> bool {
    let mut ok = true;
    let _ = expr.apply(|e| {
        ok = match e {
            Expr::Literal(v, _) => calendar_literal_pushable(v),
            Expr::AggregateFunction(AggregateFunction { func, params }) => {
                AGGREGATES.contains(&func.name())
                    && params.filter.is_none()
                    && params.order_by.is_empty()
                    // min/max of text and DISTINCT text follow collations.
                    && !(matches!(func.name(), "min" | "max")
                        && params.args.iter().any(|a| string_typed(a, schema)))
                    && !(params.distinct
                        && dialect == SourceDialect::MySql
                        && params.args.iter().any(|a| string_typed(a, schema)))
                    // MySQL's AVG has 4 more decimals than MySQL's own type of its
                    // argument, which for an expression (ceil(amt): scale 0 there) is
                    // narrower than the engine's: 1.8732 where the engine says 1.873239.
                    && !(dialect == SourceDialect::MySql
                        && func.name() == "avg"
                        && params.args.iter().any(|a| !matches!(a, Expr::Column(_))))
                    // The variance family stays in the engine, exact for exact types
                    // (`exact_variance`) and shifted for doubles (`shifted_variance`).
                    // MySQL's runs in double precision; PostgreSQL's numeric one keeps
                    // few digits for large values (stddev of integers near 1e9 came back
                    // as an integer); every source loses a shared offset's digits.
                    && !STATISTICS.contains(&func.name())
            }
            // MySQL computes integer + - * and negation in BIGINT (and INT UNSIGNED in
            // BIGINT UNSIGNED): where PostgreSQL and the engine fail with 22003, it answers.
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::Plus | Operator::Minus | Operator::Multiply, right })
                if dialect == SourceDialect::MySql
                    && (integer_typed(left, schema) || integer_typed(right, schema)) =>
            {
                false
            }
            Expr::Negative(e) if dialect == SourceDialect::MySql && integer_typed(e, schema) => false,
            Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::Plus | Operator::Minus | Operator::Multiply), right })
                if dialect == SourceDialect::MySql && decimal_past_38(left, *op, right, schema) =>
            {
                false
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right })
                if op.supports_propagation()
                    && (string_typed(left, schema) || string_typed(right, schema)) =>
            {
                string_comparison_pushable(*op, dialect)
            }
            Expr::Like(_) | Expr::SimilarTo(_) => dialect != SourceDialect::MySql,
            Expr::InList(l) if string_typed(&l.expr, schema) => dialect != SourceDialect::MySql,
            Expr::Between(b) if string_typed(&b.expr, schema) => false,
            Expr::ScalarFunction(ScalarFunction { func, .. }) => {
                let name = func.name();
                SCALARS.contains(&name)
                    || (dialect != SourceDialect::MySql && PG_SCALARS.contains(&name))
            }
            // Casts that a source does differently stay here: instants into a zone or
            // out of one (the remote session's zone would show), and fractions into
            // integers (sources round, DataFusion truncates).
            Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
                let from = expr.get_type(schema).ok();
                let to = field.data_type();
                let zoned = matches!(to, DataType::Timestamp(_, Some(_)))
                    || matches!(from, Some(DataType::Timestamp(_, Some(_))) | None);
                let rounds = to.is_integer()
                    && from.as_ref().is_some_and(|f| f.is_floating() || f.is_decimal());
                // Redshift's DECIMAL has 38 digits at most, MySQL's 65.
                let too_wide = match (to, dialect) {
                    (DataType::Decimal256(p, _), SourceDialect::Redshift) => *p > 38,
                    (DataType::Decimal256(p, _), SourceDialect::MySql) => *p > 65,
                    _ => false,
                };
                !zoned && !rounds && !too_wide
            }
            // MySQL reads `||` as OR; the unparser writes XOR as `^`, a power in PostgreSQL.
            Expr::BinaryExpr(BinaryExpr { op: Operator::StringConcat, .. }) => {
                dialect != SourceDialect::MySql
            }
            Expr::BinaryExpr(BinaryExpr {
                op:
                    Operator::BitwiseXor
                    | Operator::BitwiseAnd
                    | Operator::BitwiseOr
                    | Operator::BitwiseShiftLeft
                    | Operator::BitwiseShiftRight,
                ..
            }) => false,
            // MySQL's `/` on integers yields a decimal (DataFusion's truncates), and a zero
            // divisor gives NULL there instead of an error.
            Expr::BinaryExpr(BinaryExpr { op: Operator::Divide | Operator::Modulo, .. })
                if dialect == SourceDialect::MySql => false,
            Expr::WindowFunction(_) | Expr::ScalarSubquery(_) | Expr::Exists(_)
            | Expr::InSubquery(_) => false,
            // Bound before the plan runs; a kept plan is bound only to values that pass
            // the literal tests above (`engine::plan_cache`).
            Expr::Placeholder(_) => true,
            _ => true,
        };
        Ok(if ok { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    ok
}

/// The plan shapes a source is sent, in every dialect: those that shrink what crosses the
/// wire (scans with filters, projections and limits, single-table aggregates) and inner
/// joins. The unparser writes outer, semi and anti joins and set operations in ways that
/// change their answer (a filter on the preserved side of an outer join came out in its ON
/// clause; NOT IN lost its NULL semantics; INTERSECT, EXCEPT and FULL JOIN were not valid
/// MySQL): the engine computes them over the pushed-down inputs.
fn shape_pushable(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Projection(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::Aggregate(_)
        | LogicalPlan::SubqueryAlias(_) => true,
        LogicalPlan::Join(j) => {
            j.join_type == JoinType::Inner
                && j.null_equality == NullEquality::NullEqualsNothing
                && join_operand(&j.left)
                && join_operand(&j.right)
        }
        _ => false,
    }
}

/// Whether the unparser writes `plan`, as one side of a join, as a relation whose columns
/// keep the names the join reads. A projection, an aggregate, a sort or a limit without an
/// alias of its own becomes `(SELECT ...) AS derived_projection`, while the ON clause and
/// the SELECT above still name the tables inside it (an outer join over an empty side,
/// which DataFusion turns into a projection of NULLs, sent `ON "q3"."n" = "b4"."id"`).
fn join_operand(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(_) | LogicalPlan::SubqueryAlias(_) | LogicalPlan::Join(_) => true,
        LogicalPlan::Filter(f) => join_operand(&f.input),
        _ => false,
    }
}

fn node_pushable(plan: &LogicalPlan, dialect: SourceDialect) -> bool {
    let inputs = plan.inputs();
    let schema = match inputs.as_slice() {
        [one] => one.schema().clone(),
        _ => plan.schema().clone(),
    };
    if let LogicalPlan::TableScan(_) = plan {
        // Scan filters are column predicates already vetted by the provider.
        return plan.expressions().iter().all(|e| {
            expr_pushable(e, &schema, dialect) || e.get_type(&schema).is_err()
        });
    }
    if !shape_pushable(plan) {
        return false;
    }
    let strings = |exprs: &[Expr]| exprs.iter().any(|e| string_typed(e, &schema));
    match plan {
        // Text order follows collations everywhere.
        LogicalPlan::Sort(sort) if sort.expr.iter().any(|s| string_typed(&s.expr, &schema)) => {
            return false
        }
        // MySQL groups, deduplicates and joins text case- and accent-insensitively.
        LogicalPlan::Aggregate(a) if dialect == SourceDialect::MySql && strings(&a.group_expr) => {
            return false
        }
        LogicalPlan::Distinct(_)
            if dialect == SourceDialect::MySql
                && plan.schema().fields().iter().any(|f| is_string(f.data_type())) =>
        {
            return false
        }
        LogicalPlan::Join(j)
            if dialect == SourceDialect::MySql
                && j.on.iter().any(|(l, r)| {
                    string_typed(l, j.left.schema()) || string_typed(r, j.right.schema())
                }) =>
        {
            return false
        }
        _ => {}
    }
    if let (LogicalPlan::Sort(sort), SourceDialect::MySql) = (plan, dialect) {
        // MySQL sorts NULLs first when ascending and last when descending, and has no
        // NULLS FIRST/LAST: any other order on a nullable key stays here.
        let same_nulls = sort.expr.iter().all(|s| {
            s.nulls_first == s.asc || !s.expr.nullable(&schema).unwrap_or(true)
        });
        if !same_nulls {
            return false;
        }
    }
    plan.expressions()
        .iter()
        .all(|e| expr_pushable(e, &schema, dialect))
}

fn tree_pushable(plan: &LogicalPlan, dialect: SourceDialect) -> bool {
    below_root_pushable(plan, dialect, true)
}

/// `root`: `plan` is the statement's top, or under only sorts and limits there, so that its
/// columns are the statement's own, read by position.
fn below_root_pushable(plan: &LogicalPlan, dialect: SourceDialect, root: bool) -> bool {
    // An already federated part (from an earlier optimizer pass) is never re-wrapped.
    !matches!(plan, LogicalPlan::Extension(_))
        && (root || !projection_repeats_names(plan))
        && node_pushable(plan, dialect)
        && plan.inputs().iter().all(|i| {
            below_root_pushable(i, dialect, root && matches!(plan, LogicalPlan::Sort(_) | LogicalPlan::Limit(_)))
        })
}

/// A projection giving two columns one name (`a1.id` and the `NULL AS id` of an outer join
/// over an empty side). Read from above, it becomes a derived table whose columns the
/// unparser names without their qualifiers: `count(q3.id)` and `count(a1.id)` were both
/// sent as `count("id")`, and both counted `a1.id`.
fn projection_repeats_names(plan: &LogicalPlan) -> bool {
    let LogicalPlan::Projection(p) = plan else { return false };
    let fields = p.schema.fields();
    fields.iter().enumerate().any(|(i, f)| fields[..i].iter().any(|g| g.name() == f.name()))
}

/// `plan` as one remote statement.
fn federated(plan: LogicalPlan, planner: &Arc<dyn FederationPlanner>) -> Result<LogicalPlan> {
    let plan = neutral_aggregate_names(pushed_limits(plan)?)?;
    // The unparser wants a projection on top, as federation itself gives it.
    let plan = match plan {
        LogicalPlan::Projection(_) => plan,
        // `SELECT ... LIMIT n` as it stands (see `unparse::projection_below_limit`).
        LogicalPlan::Limit(ref l) if matches!(l.input.as_ref(), LogicalPlan::Projection(_)) => plan,
        other => {
            let columns: Vec<Expr> = other.schema().columns().into_iter().map(Expr::Column).collect();
            LogicalPlanBuilder::from(other).project(columns)?.build()?
        }
    };
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(FederatedPlanNode::new(plan, planner.clone())),
    }))
}

/// A filter over a pushable input that is not pushable as a whole: the conjuncts that
/// are go to the source (with MySQL text tests that match a superset of the rows), and
/// the rest (and those supersets again) are checked here.
fn split_filter(
    filter: &Filter,
    planner: &Arc<dyn FederationPlanner>,
    dialect: SourceDialect,
) -> Result<Option<LogicalPlan>> {
    if !tree_pushable(&filter.input, dialect) {
        return Ok(None);
    }
    let schema = filter.input.schema();
    let (mut pushed, mut local) = (Vec::new(), Vec::new());
    for c in split_conjunction(&filter.predicate) {
        if expr_pushable(c, schema, dialect) {
            pushed.push(c.clone());
        } else if dialect == SourceDialect::MySql && mysql_superset(c, schema) {
            pushed.push(c.clone());
            local.push(c.clone());
        } else {
            local.push(c.clone());
        }
    }
    let (Some(pushed), Some(local)) = (conjunction(pushed), conjunction(local)) else {
        return Ok(None);
    };
    let below = federated(LogicalPlan::Filter(Filter::try_new(pushed, filter.input.clone())?), planner)?;
    Ok(Some(LogicalPlan::Filter(Filter::try_new(local, Arc::new(below))?)))
}

fn split(
    plan: LogicalPlan,
    planner: &Arc<dyn FederationPlanner>,
    dialect: SourceDialect,
) -> Result<LogicalPlan> {
    if tree_pushable(&plan, dialect) {
        return federated(plan, planner);
    }
    if let LogicalPlan::Filter(f) = &plan {
        if let Some(p) = split_filter(f, planner, dialect)? {
            return Ok(p);
        }
    }
    if matches!(plan, LogicalPlan::TableScan(_) | LogicalPlan::Extension(_)) {
        // The provider's own scan still pushes projection, filters and limit.
        return Ok(plan);
    }
    let inputs = plan
        .inputs()
        .into_iter()
        .cloned()
        .map(|i| split(i, planner, dialect))
        .collect::<Result<Vec<_>>>()?;
    plan.with_new_exprs(plan.expressions(), inputs)
}

/// Keeps in the engine every node of a federated subtree that can't run at the source.
pub fn keep_unpushable_local(plan: LogicalPlan, dialect: SourceDialect) -> Result<LogicalPlan> {
    let LogicalPlan::Extension(Extension { node }) = &plan else {
        return Ok(plan);
    };
    let Some(fed) = node.as_any().downcast_ref::<FederatedPlanNode>() else {
        return Ok(plan);
    };
    let inner = for_unparser(fed.plan.clone())?;
    if tree_pushable(&inner, dialect) {
        return federated(inner, &fed.planner);
    }
    split(inner, &fed.planner, dialect)
}

/// How a scan filter goes to a source. Text comparisons MySQL makes under a `*_ci`
/// collation match a superset of the rows (equality, IN, LIKE): they are still sent, to
/// cut the rows read, and checked again here (Inexact). Anything else on text that a
/// source would answer differently is not sent.
pub fn scan_filter(
    filter: &Expr,
    theirs: TableProviderFilterPushDown,
    schema: &Schema,
    dialect: SourceDialect,
) -> TableProviderFilterPushDown {
    use TableProviderFilterPushDown::*;
    if theirs == Unsupported {
        return Unsupported;
    }
    let Ok(df_schema) = DFSchema::try_from(schema.clone()) else {
        return Unsupported;
    };
    // Scan filters name columns with the table's qualifier; the schema has none.
    let Ok(filter) = filter
        .clone()
        .transform(|e| match e {
            Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    else {
        return Unsupported;
    };
    if expr_pushable(&filter, &df_schema, dialect) {
        return theirs;
    }
    if dialect != SourceDialect::MySql {
        return Unsupported;
    }
    if mysql_superset(&filter, &df_schema) {
        Inexact
    } else {
        Unsupported
    }
}

/// Whether MySQL, running `filter` under a case-insensitive collation, returns every
/// row DataFusion would (and maybe more): every text test is =, IN or LIKE, none under
/// NOT, and everything else in it is pushable.
fn mysql_superset(filter: &Expr, schema: &DFSchema) -> bool {
    let mut superset = true;
    // The values a text test compares must themselves be sendable (`btrim(s) LIKE ...`
    // reached MySQL, which has no btrim).
    let sendable = |e: &Expr| expr_pushable(e, schema, SourceDialect::MySql);
    let _ = filter.apply(|e| {
        superset &= match e {
            Expr::Not(_) | Expr::Negative(_) => false,
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if string_typed(left, schema) => {
                matches!(op, Operator::Eq) && sendable(left) && sendable(right)
            }
            Expr::InList(l) => !l.negated && sendable(&l.expr) && l.list.iter().all(sendable),
            // MySQL has no ILIKE, and a `_bin` column's LIKE is case-sensitive.
            Expr::Like(l) => !l.negated && !l.case_insensitive && sendable(&l.expr) && sendable(&l.pattern),
            Expr::SimilarTo(_) | Expr::Between(_) => false,
            _ => true,
        };
        Ok(TreeNodeRecursion::Continue)
    });
    if !superset {
        return false;
    }
    // With those tests taken out, the rest must be pushable on its own merits.
    let always = || Expr::Literal(datafusion::common::ScalarValue::Boolean(Some(true)), None);
    let rest = filter
        .clone()
        .transform(|e| match e {
            Expr::BinaryExpr(BinaryExpr { ref left, op: Operator::Eq, .. })
                if string_typed(left, schema) =>
            {
                Ok(Transformed::yes(always()))
            }
            Expr::InList(ref l) if !l.negated => Ok(Transformed::yes(always())),
            Expr::Like(ref l) if !l.negated && !l.case_insensitive => Ok(Transformed::yes(always())),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data);
    rest.is_ok_and(|r| expr_pushable(&r, schema, SourceDialect::MySql))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::ScalarValue;

    #[test]
    fn only_dates_of_years_1_to_9999_are_sent() {
        let day = |y, m, d| {
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
            (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap() - epoch).num_days()
        };
        assert_eq!((FIRST_DAY, LAST_DAY), (day(1, 1, 1), day(9999, 12, 31)));
        let date = |d: i64| ScalarValue::Date32(Some(d as i32));
        assert!(calendar_literal_pushable(&date(day(1, 1, 1))));
        assert!(!calendar_literal_pushable(&date(day(0, 12, 31))));
        assert!(!calendar_literal_pushable(&date(day(10000, 1, 1))));
        let micros = ScalarValue::TimestampMicrosecond(Some((day(1, 1, 1) - 1) * 86_400_000_000 + 1), None);
        assert!(!calendar_literal_pushable(&micros));
        assert!(calendar_literal_pushable(&ScalarValue::Int64(Some(i64::MIN))));
    }
}
