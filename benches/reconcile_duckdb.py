"""The same reconciliation in DuckDB, as the yardstick of `cargo bench --bench reconcile`.

python3 reconcile_duckdb.py BILL EXPORT THREADS

A full outer join of the bill's payments and refunds against the shop's export (one row per
order, as `wxpay-ops emulator export` writes it), sorted into the same categories as
`wxpay-ops reconcile`: duplicates, status and amount mismatches, entries missing on either
side. Prints the seconds taken, then each category's count, as one JSON object.
"""

import json
import sys
import time

import duckdb

SQL = """
WITH bill AS (
    -- Every field of a WeChat Pay bill starts with a backtick; the summary rows are not
    -- payments (SUCCESS) or refunds (REFUND).
    SELECT trim(column06, '`') AS out_trade_no,
           trim(column09, '`') AS state,
           CAST(trim(column24, '`') AS DECIMAL(18, 2)) AS amount,
           CAST(trim(column25, '`') AS DECIMAL(18, 2)) AS refund
    FROM read_csv($bill, header = false, skip = 1, all_varchar = true, null_padding = true,
                  quote = '', delim = ',')
    WHERE trim(column09, '`') IN ('SUCCESS', 'REFUND')
),
export AS (
    SELECT out_trade_no, status,
           CAST(amount AS DECIMAL(18, 2)) AS amount,
           CAST(refund_amount AS DECIMAL(18, 2)) AS refund_amount
    FROM read_csv($export, header = true, all_varchar = true)
),
export_payments AS (
    SELECT out_trade_no, count(*) AS n, any_value(amount) AS amount, any_value(status) AS status
    FROM export GROUP BY out_trade_no
),
bill_payments AS (
    SELECT out_trade_no, count(*) AS n, any_value(amount) AS amount
    FROM bill WHERE state = 'SUCCESS' GROUP BY out_trade_no
),
payments AS (
    SELECT CASE
        WHEN e.out_trade_no IS NULL THEN 'missing_in_export'
        WHEN b.out_trade_no IS NULL AND e.status NOT IN ('PAID', 'REFUNDED') THEN 'not_charged'
        WHEN e.n > 1 OR b.n > 1 THEN 'duplicate'
        WHEN b.out_trade_no IS NULL THEN 'missing_in_bill'
        WHEN e.status NOT IN ('PAID', 'REFUNDED') THEN 'status_mismatch'
        WHEN e.amount <> b.amount THEN 'amount_mismatch'
        ELSE 'matched' END AS category
    FROM export_payments e FULL OUTER JOIN bill_payments b USING (out_trade_no)
),
export_refunds AS (
    SELECT out_trade_no, count(*) AS n,
           any_value(CASE WHEN refund_amount > 0 THEN refund_amount ELSE amount END) AS amount
    FROM export WHERE status = 'REFUNDED' OR refund_amount > 0 GROUP BY out_trade_no
),
bill_refunds AS (
    SELECT out_trade_no, sum(refund) AS amount FROM bill WHERE state = 'REFUND'
    GROUP BY out_trade_no
),
refunds AS (
    SELECT CASE
        WHEN e.out_trade_no IS NULL THEN 'missing_in_export'
        WHEN e.n > 1 THEN 'duplicate'
        WHEN b.out_trade_no IS NULL THEN 'missing_in_bill'
        WHEN e.amount <> b.amount THEN 'amount_mismatch'
        ELSE 'matched' END AS category
    FROM export_refunds e FULL OUTER JOIN bill_refunds b USING (out_trade_no)
)
SELECT category, count(*) FROM (SELECT * FROM payments UNION ALL SELECT * FROM refunds)
GROUP BY category ORDER BY category
"""


def main():
    bill, export, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    connection = duckdb.connect()
    connection.execute(f"SET threads = {threads}")
    started = time.perf_counter()
    rows = connection.execute(SQL, {"bill": bill, "export": export}).fetchall()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "categories": dict(rows)}))


if __name__ == "__main__":
    main()
