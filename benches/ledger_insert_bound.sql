-- The fastest SQLite can fill the ledger's bill_rows on this machine: 2 million rows of the
-- ledger's shape made by SQLite itself (no file read, no parsing, no parameters bound), then
-- the order-number index, in one transaction with the ledger's settings. `ledger import`
-- cannot be faster than this; docs/performance.md compares the two.
--
--   rm -f /tmp/bound.sqlite3*; sqlite3 /tmp/bound.sqlite3 < benches/ledger_insert_bound.sql
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA cache_size = -16384;
CREATE TABLE bill_rows (
    bill_id INTEGER NOT NULL,
    line INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    time INTEGER NOT NULL,
    out_trade_no TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    out_refund_no TEXT,
    refund_id TEXT,
    amount_fen INTEGER NOT NULL,
    settlement_fen INTEGER NOT NULL,
    fee_units INTEGER NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (bill_id, line)
) WITHOUT ROWID;
.timer on
BEGIN;
WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < 1999999)
INSERT INTO bill_rows
SELECT 1, i, 0, 1700000000 + i, printf('SYN20261120%010d', i),
       printf('4200001234202611%014d', i), NULL, NULL, 1234, 1234, 7, 'SUCCESS'
FROM g;
CREATE INDEX bill_rows_by_order ON bill_rows (out_trade_no);
COMMIT;
