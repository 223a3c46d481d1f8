-- The differential tester's regression corpus: every entry runs on each target it
-- names (default: my pg rs pq s3), and must answer as PostgreSQL does (and as fedsql
-- with pushdown off). `{t_a}` is that target's table; `{my:t_a}` pins a target.
-- `-- ordered: yes` compares rows in order.

-- name: issue 12: LEFT JOIN with a WHERE on the preserved side (was answered as an ON condition)
SELECT count(*) FROM {t_a} AS m LEFT JOIN {t_b} AS o ON m.id = o.a_id WHERE m.id < 10;

-- name: issue 12: LEFT JOIN with a WHERE on both sides
SELECT m.id, o.id FROM {t_a} AS m LEFT JOIN {t_b} AS o ON m.id = o.a_id WHERE m.id < 20 AND o.n IS NULL;

-- name: issue 12: aggregates over a table filtered on a text column (was XX000 on MySQL: nullability)
SELECT sum(a.i), avg(a.i), stddev(a.f), count(DISTINCT a.s2), count(*) FROM {t_a} AS a WHERE a.s2 = 'apple';

-- name: issue 12: GROUP BY with a text filter
SELECT a.dt, sum(a.m) FROM {t_a} AS a WHERE a.s2 = 'banana' OR a.s2 = 'apple' GROUP BY a.dt;

-- name: issue 12: SELECT DISTINCT over a text filter
SELECT DISTINCT a.s2 FROM {t_a} AS a WHERE a.s2 <> 'zeta';

-- name: issue 12: a literal with double quotes (MySQL received 'say hi')
SELECT a.id, a.s FROM {t_a} AS a WHERE a.s = 'say "hi"';

-- name: issue 12: a literal with a backslash
SELECT a.id, a.s FROM {t_a} AS a WHERE a.s = 'back\slash' OR a.s = '\' OR a.s LIKE 'x\\%';

-- name: issue 12: double quotes and backslashes in LIKE and IN
SELECT count(*) FROM {t_b} AS b WHERE b.k LIKE '%"%' OR b.k IN ('b\c', 'x''y');

-- name: issue 12: unconstrained numeric arrives exact (20 decimals and 38 digits)
SELECT c.nv, c.w FROM {t_c} AS c;

-- name: issue 12: NOT IN (subquery) whose column holds NULLs
SELECT count(*) FROM {t_a} AS a WHERE a.i NOT IN (SELECT c.w FROM {t_c} AS c);

-- name: issue 12: NOT IN (subquery) without NULLs
SELECT count(*) FROM {t_a} AS a WHERE a.i NOT IN (SELECT c.w FROM {t_c} AS c WHERE c.w IS NOT NULL);

-- name: issue 12: RIGHT JOIN with a WHERE on one side
SELECT a.id, b.id FROM {t_a} AS a RIGHT JOIN {t_b} AS b ON a.id = b.a_id WHERE b.id < 15;

-- name: issue 12: FULL JOIN with a WHERE on one side
SELECT a.id, b.id FROM {t_a} AS a FULL JOIN {t_b} AS b ON a.id = b.a_id WHERE a.id < 15;

-- name: issue 12: FULL JOIN grouped (no NULL group PostgreSQL lacks)
SELECT b.k, count(*) FROM {t_a} AS a FULL JOIN {t_b} AS b ON a.id = b.a_id WHERE b.n > 0 GROUP BY b.k;

-- name: issue 12: IN (subquery) within one catalog
SELECT count(*) FROM {t_a} AS a WHERE a.id IN (SELECT b.a_id FROM {t_b} AS b WHERE b.n > 2);

-- name: issue 12: EXISTS within one catalog
SELECT count(*) FROM {t_a} AS a WHERE EXISTS (SELECT 1 FROM {t_b} AS b WHERE b.a_id = a.id);

-- name: issue 12: INTERSECT
SELECT a.id FROM {t_a} AS a INTERSECT SELECT b.a_id FROM {t_b} AS b;

-- name: issue 12: EXCEPT
SELECT a.id FROM {t_a} AS a EXCEPT SELECT b.a_id FROM {t_b} AS b;

-- name: NOT IN over a wider column (the cast dropped the subquery column's alias)
SELECT count(*) FROM {t_a} AS a WHERE a.bi NOT IN (SELECT c.w FROM {t_c} AS c WHERE c.w IS NOT NULL);

-- name: a derived table's alias over a filtered, aliased table
SELECT q4.nv FROM (SELECT a1.id FROM {t_a} AS a1) AS q2 CROSS JOIN (SELECT c3.nv AS nv FROM {t_c} AS c3 WHERE (c3.label IS NOT DISTINCT FROM 'red')) AS q4;

-- name: an exponent literal compared with a double (1e15 was 999999999999999.9)
SELECT a.id, a.f FROM {t_a} AS a WHERE a.f IN (CAST(1e15 AS DOUBLE PRECISION), CAST(0.1 AS DOUBLE PRECISION)) OR a.d > 1e15;

-- name: sum of a bigint that passes the bigint range (wrapped to a negative number)
SELECT sum(a.bi) FROM {t_a} AS a;

-- name: ceil and floor of the largest decimal of a column (Decimal overflow)
SELECT ceil(a.m), floor(-a.m), ceil(a.d) FROM {t_a} AS a;

-- name: ILIKE over a MySQL table (MySQL has no ILIKE)
SELECT q.k FROM (SELECT b.k AS k FROM {t_b} AS b WHERE b.k ILIKE 'r%') AS q;

-- name: a count over a table read for no column (MySQL got `SELECT FROM`)
SELECT 'x' AS c FROM {t_a} AS a;

-- name: a 30-digit decimal read whole (the scan path rounded to 28 digits)
SELECT a.d FROM {t_a} AS a WHERE a.f IS NOT NULL;

-- name: cross-source join with a text key and a decimal sum
-- targets: my pg
SELECT b.k, sum(b.amt), count(a.id) FROM {t_b} AS b JOIN {pq:t_a} AS a ON a.s2 = b.k GROUP BY b.k;

-- name: ORDER BY with NULLS FIRST and LIMIT/OFFSET
-- ordered: yes
SELECT a.id, a.i FROM {t_a} AS a ORDER BY a.i DESC NULLS FIRST, a.id LIMIT 7 OFFSET 3;

-- name: subquery in FROM with its own LIMIT
SELECT q.id, q.m FROM (SELECT a.id, a.m FROM {t_a} AS a ORDER BY a.id LIMIT 5 OFFSET 2) AS q WHERE q.m IS NOT NULL;

-- name: NOT IN (subquery) under OR, the subquery holding NULLs (a mark join kept every row)
SELECT count(*) FROM {t_a} AS a WHERE a.s2 = 'nope' OR a.i NOT IN (SELECT c.w FROM {t_c} AS c);

-- name: NOT IN (subquery) under OR, no NULLs
SELECT count(*) FROM {t_a} AS a WHERE a.s2 = 'apple' OR a.i NOT IN (SELECT c.w FROM {t_c} AS c WHERE c.w IS NOT NULL);

-- name: IN and NOT IN (subquery) in the select list are three-valued
SELECT a.id, a.i IN (SELECT c.w FROM {t_c} AS c) AS x, a.i NOT IN (SELECT c.w FROM {t_c} AS c WHERE c.w > 0) AS y FROM {t_a} AS a;

-- name: NOT (x IN (subquery))
SELECT count(*) FROM {t_a} AS a WHERE NOT (a.i IN (SELECT c.w FROM {t_c} AS c));

-- name: a correlated IN (subquery) under OR
SELECT count(*) FROM {t_a} AS a WHERE a.id < 5 OR a.i IN (SELECT b.n FROM {t_b} AS b WHERE b.a_id = a.id);

-- name: a UNION of an integer and a decimal column (rows were encoded as the first branch's type)
SELECT a.id AS c FROM {t_a} AS a UNION ALL SELECT b.amt AS c FROM {t_b} AS b;

-- name: CASE over integers of mixed signedness and width (described as one type, produced as another)
SELECT CASE WHEN b.k LIKE '%e%' THEN a.u ELSE b.id END AS c, a.tz FROM {t_a} AS a JOIN {t_b} AS b ON a.u = b.id;

-- name: an aggregate over a join of tables that share column names (duplicate columns in a derived table)
SELECT variance(a.d), count(*) FROM {t_b} AS b CROSS JOIN {t_a} AS a INNER JOIN {t_c} AS c ON b.n = c.w;

-- name: a literal-only projection over a filtered, aliased table (the filter kept the inner alias)
SELECT a.f AS c1, a.dt AS c4 FROM {t_a} AS a EXCEPT SELECT abs(CAST(-1.5 AS DOUBLE PRECISION)) AS c1, DATE '2024-01-19' AS c4 FROM {t_b} AS b2 WHERE b2.a_id >= 1;

-- name: a MySQL text test over a function MySQL lacks (btrim reached MySQL)
SELECT count(*) FROM {t_a} AS a WHERE trim(a.s2) LIKE '%"%' OR trim(a.s2) = 'apple';

-- name: round(decimal, n) compared with a decimal (declared with scale n, produced with the column's)
SELECT a.id, round(a.m, 1), round(a.m), round(a.d, 3) FROM {t_a} AS a WHERE round(a.m, 1) < 0.01 OR round(a.d, 3) IS NULL;

-- name: an aggregate over a LEFT JOIN with a right side that is always empty (a derived table gave two columns one name)
SELECT stddev_samp(-10.50), count(*) FROM (SELECT a1.id AS id FROM {t_a} AS a1) AS q2 LEFT JOIN (SELECT a3.id AS id FROM {t_a} AS a3 WHERE 1 = 0) AS q4 ON q2.id = q4.id;

-- name: an expression over a LEFT JOIN side the optimizer found empty (the side's columns became NULLs under its alias)
SELECT (q3.nv - 5) AS c4 FROM {t_a} AS a1 LEFT JOIN (SELECT c2.nv AS nv, c2.label AS label FROM {t_c} AS c2 WHERE 42 > 2147483647) AS q3 ON a1.s2 = q3.label;

-- name: AVG of a value the query casts to a decimal rounds (it was truncated: 37.666666)
SELECT b.n, avg(CAST(b.id AS NUMERIC(20,2))) FROM {t_b} AS b GROUP BY b.n;

-- name: timestamps with microseconds keep them through a MySQL cast (CAST(... AS DATETIME) dropped them)
SELECT TIMESTAMP '2024-02-29 23:59:59.999999' AS c1, a.ts FROM {t_a} AS a;

-- name: a UNION of a timestamp column and a timestamp literal keeps the column's microseconds
SELECT a.ts AS c FROM {t_a} AS a UNION ALL SELECT TIMESTAMP '2024-04-01 06:00:00' AS c FROM {t_b} AS b;

-- name: UNION of a text and a varchar(40) column (field metadata merged apart in the logical and physical plans)
SELECT a1.s2 AS c1 FROM {t_a} AS a1 UNION SELECT a4.s AS c1 FROM {t_a} AS a4;

-- name: UNION of a varchar(40) column and coalesce() of a varchar(16) one (coalesce keeps the declared type physically, not logically)
SELECT a.s AS c FROM {t_a} AS a UNION SELECT coalesce(c.label, 'x') AS c FROM {t_c} AS c;

-- name: the same, coalesce() first, under a GROUP BY
SELECT u.c, count(*) AS n FROM (SELECT coalesce(c.label, 'x') AS c FROM {t_c} AS c UNION SELECT a.s AS c FROM {t_a} AS a) AS u GROUP BY u.c;

-- name: ceil and round of a CASE mixing decimal scales (a cast to the first branch's type rounded the other)
SELECT a.id, ceil(CASE WHEN a.id > 30 THEN -2.5 ELSE a.m END), round(CASE WHEN a.id > 30 THEN 1.25 ELSE a.d END, 1) FROM {t_a} AS a WHERE a.m BETWEEN -1000 AND 1000 AND a.d BETWEEN -1000 AND 1000;

-- name: a 4-way join of limited derived tables under INTERSECT (planning overflowed a 2 MiB worker stack and aborted the server)
-- targets: pg my
(SELECT b5.amt AS c1 FROM (SELECT b1.id AS id, b1.k AS k FROM {t_b} AS b1 ORDER BY b1.id ASC NULLS LAST LIMIT 8) AS q2 CROSS JOIN (SELECT b3.amt AS amt, b3.a_id AS a_id, b3.id AS id FROM {t_b} AS b3 WHERE b3.amt > 0 ORDER BY b3.id ASC NULLS LAST LIMIT 14) AS q4 INNER JOIN {t_b} AS b5 ON (q4.a_id = b5.id AND (q4.amt IS NOT DISTINCT FROM 1.5)) WHERE b5.a_id <> CAST(EXTRACT(HOUR FROM CAST('2025-01-02 00:00:00+00' AS TIMESTAMP WITH TIME ZONE)) AS INTEGER)) INTERSECT (SELECT a6.m AS c1 FROM {t_a} AS a6 WHERE concat(a6.s, a6.s2) IS NULL) ORDER BY 1 ASC NULLS LAST;

-- name: a double literal folded to 1e30 (written as a plain number, PostgreSQL read it as numeric)
-- targets: pg rs my
SELECT (CAST(1e15 AS DOUBLE PRECISION) * CAST(1e15 AS DOUBLE PRECISION)) AS c1, a.f FROM {t_a} AS a;

-- name: a rounding cast in a comparison (DataFusion unwrapped it: round(amt, 1) NOT BETWEEN 0 AND 10.50 kept 10.54)
SELECT count(b1.n) FROM {t_b} AS b1 WHERE round(b1.amt, 1) NOT BETWEEN 0 AND 10.50 GROUP BY b1.amt, b1.id;

-- name: a cast to fewer fractional digits compared with a literal
SELECT b.id FROM {t_b} AS b WHERE CAST(b.amt AS NUMERIC(12,1)) = 10.5 OR CAST(b.amt AS NUMERIC(12,1)) > 100.25;

-- name: exact statistics of numerics and integers (were computed in double precision)
SELECT var_samp(a.d), stddev(a.d), var_pop(a.i), stddev_pop(a.bi) FROM {t_a} AS a;

-- name: double statistics over a shared offset (Welford's running mean lost the spread; copies of 1e150 gave noise)
SELECT var_samp(CAST(1e15 AS DOUBLE PRECISION) + a.f), stddev_pop(CAST(1e15 AS DOUBLE PRECISION) + a.f), stddev(CAST(1e150 AS DOUBLE PRECISION) + a.id) FROM {t_a} AS a WHERE a.f BETWEEN -100 AND 100;

-- name: double statistics per group over a shared offset
SELECT a.dt, var_pop(CAST(1700000000000 AS DOUBLE PRECISION) + a.f * 1000) FROM {t_a} AS a WHERE a.f BETWEEN -100 AND 100 GROUP BY a.dt;

-- name: an outer join over an always-empty side, counted (DataFusion makes it a projection of NULLs named like the columns they stand beside; the unparser sent count(q3.id) and count(a1.id) both as count("id"))
SELECT count(*), count(q3.id), count(a1.id), sum(q3.a_id) FROM {t_a} AS a1 LEFT JOIN (SELECT b2.a_id AS a_id, b2.id AS id FROM {t_b} AS b2 WHERE 5 = 42) AS q3 ON a1.u = q3.a_id;

-- name: an outer join over an always-empty side, joined again (the ON clause named a table inside a derived table: XX000)
SELECT b1.n AS c2 FROM {t_b} AS b1 LEFT JOIN (SELECT b2.a_id AS a_id, b2.n AS n FROM {t_b} AS b2 WHERE (3.33 IS NOT DISTINCT FROM 10.50)) AS q3 ON b1.a_id = q3.a_id INNER JOIN {t_b} AS b4 ON q3.n = b4.id;

-- name: ceil and floor of the largest values inside abs and coalesce (DataFusion keeps the argument's type: overflow)
SELECT ceil(abs(a.m)), floor(coalesce(a.d, -2.5)), ceil(-abs(a.m)), floor(CASE WHEN a.id > 3 THEN a.m ELSE a.d END) FROM {t_a} AS a;

-- name: comparing numeric(30,10) with numeric(38,20) (DataFusion's common type Decimal128(38,20) holds 18 integer digits: overflow)
SELECT count(*), min(a1.d), max(c.nv) FROM {t_a} AS a1 CROSS JOIN {t_c} AS c WHERE a1.d < c.nv OR a1.d BETWEEN c.nv AND c.nv + 1 OR a1.d IN (c.nv, 1.5);

-- name: sum and avg of numeric(38,20) (DataFusion keeps the sum in Decimal128(38,20): 18 integer digits, overflow; AVG failed XX000)
SELECT sum(c.nv), avg(c.nv), sum(a.d), avg(a.d), count(*) FROM {t_c} AS c CROSS JOIN {t_a} AS a;

-- name: sum and avg of numeric(38,20) per group
SELECT c.label, sum(c.nv), avg(c.nv) FROM {t_c} AS c CROSS JOIN {t_a} AS a WHERE a.id < 40 GROUP BY c.label;

-- name: AVG of a decimal expression on MySQL (MySQL's scale of ceil(amt) is 0, so its AVG had 4 decimals: 1.8732 for 1.873239)
SELECT avg(floor(b1.amt)), avg(ceil(b1.amt)), avg(b1.amt * 2) FROM {t_b} AS b1;

-- name: the stddev of large integers (the oracle's numeric statistic kept no decimals)
SELECT stddev((a1.i / 7)), stddev_pop(a1.u / 3), var_samp(a1.bi) FROM {t_a} AS a1;

-- name: a three-table join whose middle output repeats a column name (b1.k, b2.k): the join's dynamic filter for one k pruned rows of the other (Parquet alone)
SELECT b1.k AS c2 FROM {t_b} AS b1 INNER JOIN {t_b} AS b2 ON b1.a_id = b2.n INNER JOIN {t_c} AS c3 ON b2.k = c3.label WHERE c3.label ILIKE '%가%';

-- name: coalesce, greatest and least of an unconstrained numeric rounded and a numeric literal (no common type of Decimal256(76,1) and Decimal128(4,2): 42883)
SELECT c.w, coalesce(round(c.nv, 1), 10.50), greatest(round(c.nv, 1), 2.25), least(c.nv, 0.5) FROM {t_c} AS c;

-- name: CASE of numeric(30,10) and numeric(38,20) branches (DataFusion's common type Decimal128(38,20) holds 18 integer digits: overflow)
SELECT a.id, CASE WHEN a.id % 2 = 0 THEN a.d ELSE c.nv END FROM {t_a} AS a CROSS JOIN {t_c} AS c WHERE c.w = 1;

-- name: a RIGHT JOIN filtered on a column of the outer side that the inner side also has (DataFusion's physical filter pushdown moved `b1.amt <> x` through a projection naming both `amt`, into the inner side: 44 rows for 33)
SELECT b2.amt AS c2 FROM {t_b} AS b1 RIGHT JOIN {t_b} AS b2 ON b1.id = b2.n WHERE ((-1 > b2.n OR b1.amt <> 12345678901234567890.0123456789) AND b2.k >= 'apple ');

-- name: sum of a CASE whose first branch is an integer (widened for the sum before type coercion, by the first branch's type: the decimals of b2.amt were cut)
SELECT sum(CASE WHEN a1.f <= CAST(-1.5 AS DOUBLE PRECISION) THEN 0 ELSE b2.amt END) AS a1 FROM {t_a} AS a1 CROSS JOIN {t_b} AS b2 GROUP BY a1.f, a1.d;

-- name: avg of a CASE of numeric(30,10) and an unconstrained numeric (cast to the first branch's numeric(30,10) for the sum: digits past the 10th decimal lost)
SELECT avg(CASE WHEN a1.f IS NULL THEN a1.d ELSE c2.nv END), sum(CASE WHEN a1.f IS NULL THEN a1.d ELSE c2.nv END) FROM {t_a} AS a1 CROSS JOIN {t_c} AS c2;

-- name: EXCEPT whose right branch rounds a constant (round's type changed when its places were cast to int4 and folded again; the unparser then named the branch's table by its old alias: "missing FROM-clause entry for table a4", XX000)
(SELECT a2.m AS c1, CAST(0.1 AS DOUBLE PRECISION) AS c2, CAST(CAST(a2.dt AS TIMESTAMP) AS DATE) AS c3, a2.ts AS c4 FROM {t_b} AS b1 INNER JOIN {t_a} AS a2 ON b1.n = a2.id) EXCEPT (SELECT round(abs(12345678901234567890.0123456789), 1) AS c1, a4.f AS c2, a4.dt AS c3, a4.ts AS c4 FROM {t_a} AS a4 WHERE (a4.f IS NOT DISTINCT FROM CAST(1.5 AS DOUBLE PRECISION)));

-- name: arithmetic over a sum widened to 256 bits (it was coerced for the sum's old Decimal128 type: "Invalid arithmetic operation: Decimal128(5, 2) * Decimal256", TPC-H q14's shape)
SELECT 100.00 * sum(CASE WHEN a.id % 2 = 0 THEN a.d ELSE 0 END), sum(a.d) - 1, count(*) FROM {t_a} AS a;

-- name: UNION ALL of an unconstrained numeric rounded and a numeric(12,2) (DataFusion's union type of Decimal256(76,1) and Decimal128(12,2) asks for 77 digits: 42601 "Incompatible inputs for Union")
(SELECT round(c2.nv, 1) AS c1 FROM {t_c} AS c2) UNION ALL (SELECT a4.m AS c1 FROM {t_a} AS a4);

-- name: UNION, INTERSECT and EXCEPT of numeric(30,10) and numeric(38,20) (the common type Decimal128(38,20) holds 18 integer digits)
(SELECT a.d FROM {t_a} AS a) UNION (SELECT c.nv FROM {t_c} AS c);

-- name: INTERSECT of decimals whose common type needs more than 38 digits (the join keys were compared in Decimal128(38,20))
(SELECT a.d FROM {t_a} AS a) INTERSECT (SELECT c.nv FROM {t_c} AS c);

-- name: EXCEPT of decimals whose common type needs more than 38 digits
(SELECT round(c.nv, 1) FROM {t_c} AS c) EXCEPT (SELECT a.m FROM {t_a} AS a);

-- name: a year no source calendar holds (DataFusion turns EXTRACT(YEAR ..) = 0 into a range from DATE '0000-01-01', which PostgreSQL and Redshift reject: 22008 on rs)
SELECT sum(a.f), count(*) FROM {t_a} AS a WHERE 0 = CAST(EXTRACT(YEAR FROM a.dt) AS INTEGER) OR EXTRACT(YEAR FROM a.ts) = 10000 GROUP BY a.ts;

-- name: a double product that is -0.0 orders equal to 0.0 (DataFusion's sort put -0.0 first: ORDER BY f * 0, id came back in another order)
-- ordered: yes
SELECT a.f * CAST(0 AS DOUBLE PRECISION) AS z, -(a.f * CAST(0 AS DOUBLE PRECISION)) AS nz, a.id FROM {t_a} AS a ORDER BY 1, 2, 3;

-- name: sum and avg of a CASE of numeric(38,20) and an integer (kept in DataFusion's Decimal128(38,20) sum type: "Arithmetic Overflow in AvgAccumulator", XX000)
SELECT avg(CASE WHEN c.w > 1 THEN c.nv ELSE 0 END), sum(CASE WHEN c.w > 1 THEN c.nv ELSE 0 END), sum(CASE WHEN c.w > 1 THEN 0 ELSE c.nv END) FROM {t_c} AS c;


-- name: the stddev of doubles whose squared deviations pass the largest double (1e165 apart: fedsql said inf, the exact answer is 3.03e164)
SELECT stddev_samp(a1.f * CAST(1e15 AS DOUBLE PRECISION)), var_pop(a1.f * CAST(1e-15 AS DOUBLE PRECISION)), stddev(a1.f) FROM {t_a} AS a1;

-- name: a decimal cast to an integer rounds half away from zero (DataFusion truncated: 10.50 was 10, PostgreSQL says 11)
SELECT a.id, CAST(a.m AS INT), CAST(a.d AS BIGINT), CAST(-a.m AS SMALLINT) FROM {t_a} AS a WHERE abs(a.m) < 1000 AND abs(a.d) < 1000;

-- name: a comparison of a decimal cast to an integer (DataFusion's simplifier read CAST(m AS INT) = 3 as m = 3: none of 3.33 matched)
SELECT count(*), sum(a.m) FROM {t_a} AS a WHERE abs(a.m) < 1000 AND (CAST(a.m AS INT) = 3 OR CAST(a.m AS INT) IN (11, -11));

-- name: ORDER BY a timestamp filtered by its day (DataFusion took CAST(ts AS DATE) = d for a filter that leaves ts constant and dropped the sort: one day's rows came back in file order)
-- ordered: yes
SELECT a1.ts, a1.id FROM {t_a} AS a1 WHERE CAST(a1.ts AS DATE) = DATE '2024-03-01' OR CAST(a1.ts AS DATE) BETWEEN DATE '2024-03-05' AND DATE '2024-03-05' ORDER BY 1 DESC NULLS LAST, 2;

-- name: ORDER BY .. LIMIT over a UNION whose branches hold different constants in the first key (a TopK per partition sorted without the key constant in it, and its shared threshold rejected the other branch's rows: which row came back depended on which partition ran first)
-- ordered: yes
(SELECT CAST(TIMESTAMP '2024-03-05 00:00:00' AS DATE) AS c1, CAST(3.141592653589793 AS DOUBLE PRECISION) AS c2, a1.f AS c3, TIMESTAMP '2024-03-10 12:30:00' AS c4 FROM {t_a} AS a1 INNER JOIN (SELECT c2.w AS w FROM {t_c} AS c2) AS q3 ON a1.bi = q3.w) UNION ALL (SELECT a4.dt AS c1, CAST(0.1 AS DOUBLE PRECISION) AS c2, a4.f AS c3, a4.ts AS c4 FROM {t_a} AS a4) ORDER BY 2 DESC NULLS FIRST, 4 DESC NULLS LAST, 1 DESC NULLS LAST, 3 DESC NULLS FIRST LIMIT 1;

-- name: a constant GROUP BY key over a MySQL text filter (the key was written for the unparser as coalesce(k, k); the text filter kept the aggregate local, where DataFusion's coalesce fails "should have been simplified to case", XX000)
-- targets: my
SELECT sum(CAST(a1.bi AS DOUBLE PRECISION)), min(a1.u), avg(a1.m) FROM {t_a} AS a1 WHERE a1.s2 LIKE '%''%' OR a1.s LIKE 'b%' GROUP BY DATE '2023-12-31';

-- name: a user's cast of a bigint to bigint is summed as any bigint (the rule took it for its own numeric widening: the sum wrapped to -9223365036854777558 where PostgreSQL says -27670109110564329174)
SELECT sum(CAST(a1.bi AS BIGINT)) FROM {t_a} AS a1 GROUP BY CAST(2024 AS INTEGER);

-- name: the same sum over the whole table
SELECT sum(CAST(a1.bi AS BIGINT)), count(*) FROM {t_a} AS a1;

-- name: a top-level EXCEPT of a CASE that widens int4 to int8 (described in its pre-coercion type: "column types must match schema types, expected Int32 but found Int64", XX000)
(SELECT CASE WHEN b.amt > 1 THEN b.id ELSE CAST(3 AS BIGINT) END AS k FROM {t_b} AS b) EXCEPT (SELECT CAST(2024 AS INTEGER) FROM {t_a} AS a);

-- name: a top-level INTERSECT of the same
(SELECT CASE WHEN b.amt > 1 THEN b.id ELSE CAST(3 AS BIGINT) END AS k FROM {t_b} AS b) INTERSECT (SELECT a.i FROM {t_a} AS a);

-- name: ORDER BY a column of a LEFT JOIN's null-supplying side that a filter holds constant (DataFusion kept the constant through the outer join and dropped the sort: NULLs came between the 5s)
-- ordered: yes
SELECT q3.n AS c1 FROM {t_b} AS b1 LEFT JOIN (SELECT b2.a_id AS a_id, b2.n AS n FROM {t_b} AS b2) AS q3 ON (b1.id = q3.a_id AND q3.n = 5) ORDER BY 1 DESC NULLS FIRST;

-- name: the same through a RIGHT JOIN over a constant column
-- ordered: yes
SELECT q.c, b.id FROM (SELECT 7 AS c, a.id AS id FROM {t_a} AS a WHERE a.id < 5) AS q RIGHT JOIN {t_b} AS b ON q.id = b.a_id ORDER BY 1 NULLS FIRST, 2;

-- name: a double that is -0.0 at the source orders equal to 0.0 (PostgreSQL's f * 0 arrived as -0.0 and DataFusion's sort put it before 0.0 in a cross-source UNION: rows tied on dt came out of ts order)
-- targets: my
-- ordered: yes
(SELECT a1.dt AS c1, a1.ts AS c2, (a1.f * CAST(0 AS DOUBLE PRECISION)) AS c3 FROM {pg:t_a} AS a1) UNION ALL (SELECT a2.dt AS c1, a2.ts AS c2, a2.f AS c3 FROM {my:t_a} AS a2 WHERE a2.id < 0) ORDER BY 1 DESC NULLS LAST, 3 ASC NULLS LAST, 2 ASC NULLS LAST;

-- name: a year range from below year 1 on a plain table read (DataFusion's simplifier rewrote the scan's filter after the scan took it into d >= DATE '-0042-01-01', sent even with pushdown off: 22000 on rs)
SELECT count(*), min(a1.dt) FROM {t_a} AS a1 WHERE CAST(EXTRACT(YEAR FROM a1.dt) AS INTEGER) BETWEEN -42 AND 2024;

-- name: the same under a LIMIT, with a column the filter reads and the query does not
SELECT a1.id FROM {t_a} AS a1 WHERE CAST(EXTRACT(YEAR FROM a1.dt) AS INTEGER) BETWEEN -42 AND 7 LIMIT 3;

-- name: issue 17: an exact sum over an unaliased table (42703 "No field named sum(dt.t_a.bi)": federation renamed the table inside the column name, not inside the sum's alias)
SELECT sum(bi), sum(i % 7 + 1), count(*) FROM {t_a};

-- name: issue 17: the same grouped by an expression, and sorted
SELECT i % 3 AS k, sum(bi) AS s, sum(i % 7 + 1) AS q FROM {t_a} GROUP BY i % 3 ORDER BY k;

-- name: issue 17: NOT IN a list holding NULL, with an IN on the same column (DataFusion's in-list simplifier merged the lists and dropped the NULL: rows where PostgreSQL answers none)
SELECT count(*) FROM {t_a} AS a WHERE a.u NOT IN (100, 100, -42, 10, NULL) AND a.u IN (3, -42, 10);

-- name: issue 17: IN and NOT IN lists with NULLs, as values
SELECT a.id, a.i IN (1, NULL), a.i NOT IN (1, NULL), a.i IN (NULL) FROM {t_a} AS a ORDER BY a.id;

-- name: windows: avg of a decimal over a window truncated at scale + 4 where the aggregate rounds
SELECT avg(b1.amt) OVER () AS c5 FROM {t_b} AS b1;

-- name: windows: running avg of a decimal
SELECT avg(b1.amt) OVER (ORDER BY b1.k DESC NULLS FIRST) AS c3 FROM {t_b} AS b1;

-- name: windows: a partition key computed as -0.0 and 0.0 is one partition
SELECT count(*) OVER (PARTITION BY (q2.f * CAST(0 AS DOUBLE PRECISION)) ORDER BY q2.m, q2.id NULLS FIRST) AS c2 FROM (SELECT a1.f AS f, a1.m AS m, a1.id AS id FROM {t_a} AS a1) AS q2;

-- name: windows: an ORDER BY of a calendar function in the session's zone keeps its name (was 42703)
SELECT rank() OVER (PARTITION BY b1.amt ORDER BY CAST(EXTRACT(HOUR FROM CAST('2025-01-10 00:00:00+00' AS TIMESTAMP WITH TIME ZONE)) AS INTEGER)) AS c5 FROM {t_b} AS b1;

-- name: a constant ORDER BY key folded to a number was sent as a column position (other rows under the LIMIT)
-- ordered: yes
SELECT a.id, a.s FROM {t_a} AS a ORDER BY 1 + 1, a.id LIMIT 3;

-- name: a constant GROUP BY key folded to a number
SELECT count(*) FROM {t_a} AS a GROUP BY 1 + 1;

-- name: windows: running avg of a decimal product, rounded once (widened twice, it was rounded twice: ...045|45 became ...046)
SELECT avg((a1.m * -1.25)) OVER (ORDER BY a1.d DESC NULLS FIRST, a1.tz ASC NULLS LAST) AS c3 FROM {t_a} AS a1;

-- name: windows: a running sum of bigints is a numeric, as the aggregate (it wrapped)
SELECT sum(a1.bi) OVER (PARTITION BY a1.f ORDER BY a1.s2 NULLS LAST) AS c5 FROM {t_a} AS a1;

-- name: windows: a sum of numeric(38,20) past 18 integer digits (it overflowed into another number)
SELECT sum(c2.nv) OVER (PARTITION BY c2.nv ORDER BY 0) AS c5 FROM {t_b} AS b1 CROSS JOIN {t_c} AS c2;

-- name: arithmetic over a constant function call is folded checked (abs(-5) * 100; abs(2147483647) * 100 was -100 where PostgreSQL raises)
SELECT a.id, abs(-5) * 100 AS k FROM {t_a} AS a WHERE a.id < 3;
