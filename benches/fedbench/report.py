"""Ratios against the goals, and the results as JSON and Markdown."""
import json
import math


def _find(ms, workload, system):
    for m in ms:
        if m.workload == workload and m.system == system:
            return m
    return None


def _ratio(a, b):
    return a / b if a is not None and b else None


def goals(ms):
    """[(bench, measure, value, goal text, met)] for whatever ran."""
    rows = []

    def add(bench, measure, value, goal, ok):
        rows.append((bench, measure, value, goal, None if value is None else ok(value)))

    fed_pq = _find(ms, "B1", "fedsql (local Parquet)")
    if fed_pq:
        duck, maria = _find(ms, "B1", "DuckDB (local Parquet)"), _find(ms, "B1", "MariaDB (indexed table)")
        fed_s3 = _find(ms, "B1", "fedsql (Parquet on S3)")
        add("B1", "fedsql local Parquet time / DuckDB time", _ratio(fed_pq.median, duck.median), "≤ 1.0",
            lambda v: v <= 1.0)
        add("B1", "fedsql S3 Parquet time / DuckDB time", _ratio(fed_s3.median, duck.median), "≤ 1.0",
            lambda v: v <= 1.0)
        add("B1", "MariaDB time / fedsql local Parquet time (speed-up)", _ratio(maria.median, fed_pq.median),
            "≥ 20", lambda v: v >= 20)
        add("B1", "MariaDB time / fedsql S3 Parquet time (speed-up)", _ratio(maria.median, fed_s3.median),
            "≥ 20", lambda v: v >= 20)
        add("B1", "statements to MariaDB during fedsql's run", fed_pq.extra.get("statements_to_mariadb"), "0",
            lambda v: v == 0)
    for src in ("PostgreSQL", "MariaDB"):
        fed = _find(ms, f"B2 {src}", f"fedsql ← {src}")
        if fed:
            cx = _find(ms, f"B2 {src}", f"ConnectorX ← {src}")
            add("B2", f"fedsql rows/s / ConnectorX rows/s ({src})", _ratio(fed.rows_per_s, cx.rows_per_s),
                "≥ 1.2", lambda v: v >= 1.2)
    for system in ("fedsql (Parquet)", "fedsql ← PostgreSQL"):
        fed = _find(ms, "B3 lookups", system)
        if fed:
            pg = _find(ms, "B3 lookups", "PostgreSQL (primary key)")
            add("B3", f"{system} TPS / PostgreSQL TPS", _ratio(fed.extra.get("tps"), pg.extra.get("tps")),
                "≥ 0.5", lambda v: v >= 0.5)
            add("B3", f"{system} p99 ms", fed.extra.get("p99_ms"), "≤ 10", lambda v: v <= 10)
    for form in ("COPY", "SELECT"):
        fed = _find(ms, f"B4 {form}", "fedsql (Parquet)")
        if fed:
            pg = _find(ms, f"B4 {form}", "PostgreSQL")
            add("B4", f"fedsql rows/s / PostgreSQL rows/s ({form})", _ratio(fed.rows_per_s, pg.rows_per_s),
                "≥ 0.8", lambda v: v >= 0.8)
            add("B4", f"fedsql peak RSS MB ({form})", fed.extra.get("peak_rss_mb"), "≤ 300", lambda v: v <= 300)
    b5 = [m for m in ms if m.workload.startswith("B5 ")]
    if b5:
        fed = [m for m in b5 if m.fedsql]
        duck = {m.workload: m for m in b5 if not m.fedsql}
        correct = sum(1 for m in fed if not m.error)
        add("B5", "queries correct", correct, f"{len(fed)}/{len(fed)}", lambda v: v == len(fed))
        ok = [m for m in fed if not m.error and duck[m.workload].median]
        if ok:
            total = sum(m.median for m in ok) / sum(duck[m.workload].median for m in ok)
            geo = math.exp(sum(math.log(m.median / duck[m.workload].median) for m in ok) / len(ok))
            add("B5", "fedsql total time / DuckDB total time (correct queries)", total, "≤ 2", lambda v: v <= 2)
            add("B5", "geometric mean of per-query time ratios", geo, "≤ 2", lambda v: v <= 2)
    fed = _find(ms, "B6 SELECT 1 under load", "fedsql (Parquet)")
    if fed and not fed.error:
        add("B6", "fedsql SELECT 1 p99 ms during two heavy queries", fed.extra.get("select1_p99_ms"), "< 100",
            lambda v: v < 100)
        add("B6", "fedsql new session p99 ms during two heavy queries", fed.extra.get("new_session_p99_ms"),
            "< 100", lambda v: v < 100)
        add("B6", "fedsql catalog query p99 ms during two heavy queries", fed.extra.get("catalog_p99_ms"),
            "< 100", lambda v: v < 100)
        add("B6", "fedsql cancel to error, ms", fed.extra.get("cancel_ms"), "< 1000", lambda v: v < 1000)
        add("B6", "fedsql 1 s statement_timeout overshoot, ms", fed.extra.get("timeout_overshoot_ms"), "< 1000",
            lambda v: v < 1000)
    load = _find(ms, "B7 snapshot refresh", "fedsql first load (full)")
    if load and not load.error:
        add("B7", "snapshot first load, rows/s", load.rows_per_s, "reported", lambda v: True)
        add("B7", "snapshot first load, chunk statements", load.extra.get("chunk_statements"), "reported",
            lambda v: True)
    append = _find(ms, "B7 snapshot refresh", "fedsql append of 1% new rows")
    if append and not append.error:
        add("B7", "append refresh of 1% new rows, rows read/s", append.rows_per_s, "reported", lambda v: True)
        add("B7", "append refresh, rows read / new rows", _ratio(append.extra.get("rows_read"), append.extra.get("new_rows")),
            "≤ 1.1", lambda v: v <= 1.1)
    fed = _find(ms, "B7 stats", "fedsql (snapshot of MariaDB)")
    if fed:
        duck = _find(ms, "B7 stats", "DuckDB (the snapshot's Parquet)")
        add("B7", "fedsql over the snapshot time / DuckDB time (same Parquet)", _ratio(fed.median, duck.median),
            "≤ 1.0", lambda v: v <= 1.0)
        add("B7", "statements to MariaDB during fedsql's stats runs", fed.extra.get("statements_to_mariadb"), "0",
            lambda v: v == 0)
    return rows


def _fmt(v, digits=3):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}" if abs(v) < 1000 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def markdown(meta, ms):
    out = [f"# fedsql benchmarks — scale `{meta['scale']}`", "",
           f"{meta['date']} · fedsql {meta['commit']} ({meta['build']} build) · {meta['machine']}", "",
           "Medians of the timed runs after one warm-up; the contenders alternate run by run. "
           "Time ratios below 1 and throughput ratios above 1 favour fedsql.", "",
           "## Against the goals", "", "| bench | measure | value | goal | met |", "|---|---|---:|---|---|"]
    for bench, measure, value, goal, met in goals(ms):
        out.append(f"| {bench} | {measure} | {_fmt(value)} | {goal} | {'—' if met is None else 'yes' if met else 'no'} |")
    out += ["", "## Measurements", "", "| workload | system | median s | runs | rows/s | notes |",
            "|---|---|---:|---:|---:|---|"]
    for m in ms:
        notes = ", ".join(f"{k} {v}" for k, v in m.extra.items())
        if m.error:
            notes = f"**failed**: {m.error[:200]}"
        out.append(f"| {m.workload} | {m.system} | {_fmt(m.median)} | {len(m.seconds)} | "
                   f"{_fmt(m.rows_per_s, 0) if m.rows_per_s else '—'} | {notes} |")
    return "\n".join(out) + "\n"


def write(path_dir, meta, ms):
    path_dir.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta,
            "goals": [dict(bench=b, measure=m, value=v, goal=g, met=ok) for b, m, v, g, ok in goals(ms)],
            "measurements": [dict(workload=m.workload, system=m.system, median_s=m.median, seconds=m.seconds,
                                  rows=m.rows, rows_per_s=m.rows_per_s, fedsql=m.fedsql, error=m.error or None,
                                  **m.extra) for m in ms]}
    md = markdown(meta, ms)
    # latest.* is any run's; full.* is kept in git as the measurement BENCHMARKS.md quotes.
    for stem in ["latest"] + (["full"] if meta["scale"] == "full" else []):
        (path_dir / f"{stem}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
        (path_dir / f"{stem}.md").write_text(md)
    return md
