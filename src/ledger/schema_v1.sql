-- Schema version 1 of the ledger. Amounts are integers: fen, except fees, which WeChat Pay
-- bills give to five decimals and are kept in 0.00001 yuan (as `BillAmount`). Days are
-- 'YYYY-MM-DD' Beijing days; instants are RFC 3339 text in +08:00; bill and export times are
-- Unix seconds. Nothing is ever deleted: states change, rows stay.

-- A bill file saved or imported: the manifest's facts, and the day's figures from its rows.
-- One row per file (sha256): the same file recorded again is the same row; a corrected bill
-- of the same day and type is a new row beside the first, and the day's bill is the one
-- recorded last (the greatest id), which the view day_bills lists.
CREATE TABLE bills (
    id INTEGER PRIMARY KEY,
    mch_id TEXT NOT NULL,
    day TEXT NOT NULL,
    -- ALL, SUCCESS, REFUND, RECHARGE_REFUND, or fundflow-Basic / -Operation / -Fees.
    bill_type TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    -- The file's modification and change times (Unix nanoseconds) and inode as the ledger
    -- read it to record it, so that reconcile can take sha256 for a file still of that size,
    -- times and inode (NULL: unknown, or the file changed while it was read).
    mtime_ns INTEGER,
    ctime_ns INTEGER,
    inode INTEGER,
    rows INTEGER NOT NULL,
    -- Whether the summary row matched the rows.
    consistent INTEGER,
    source_url TEXT,
    fetched_at TEXT,
    recorded_at TEXT NOT NULL,
    -- The day's figures from the rows of a trade bill (NULL for a fund-flow bill).
    payment_count INTEGER,
    payment_fen INTEGER,
    refund_count INTEGER,
    refund_fen INTEGER,
    settlement_fen INTEGER,
    fee_units INTEGER,
    -- Set once the bill's rows are in bill_rows.
    imported_at TEXT,
    -- Its index (mch_id, day, bill_type, sha256) also finds a merchant's bills by day.
    UNIQUE (mch_id, day, bill_type, sha256)
);

-- What the ledger knows of the file at a path (reconcile's inputs).
CREATE INDEX bills_by_path ON bills (path);

-- The day's bill of each merchant, day and type: the one recorded last.
CREATE VIEW day_bills AS
SELECT * FROM bills AS b
WHERE id = (
    SELECT max(id) FROM bills
    WHERE mch_id = b.mch_id AND day = b.day AND bill_type = b.bill_type
);

-- One normalized trade bill row: a payment (kind 0) or a refund (kind 1), with its line.
-- Fund-flow bills are recorded in bills, their rows are not imported here.
CREATE TABLE bill_rows (
    bill_id INTEGER NOT NULL REFERENCES bills (id),
    line INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    time INTEGER NOT NULL,
    out_trade_no TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    out_refund_no TEXT,
    refund_id TEXT,
    -- 订单金额 on a payment, 申请退款金额 on a refund.
    amount_fen INTEGER NOT NULL,
    -- 应结订单金额 on a payment, 退款金额 on a refund (0 in a legacy bill, which has neither).
    settlement_fen INTEGER NOT NULL,
    fee_units INTEGER NOT NULL,
    -- 交易状态 on a payment, 退款状态 on a refund.
    state TEXT NOT NULL,
    PRIMARY KEY (bill_id, line)
) WITHOUT ROWID;
CREATE INDEX bill_rows_by_order ON bill_rows (out_trade_no);

-- One reconcile run: its inputs, how it read them, and what it found.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    mch_id TEXT,
    day TEXT NOT NULL,
    started_at TEXT NOT NULL,
    -- The OS user who ran it.
    user TEXT NOT NULL,
    -- Each input's path as given, and the sha256 of its bytes as they are on disk (a gzip
    -- bill's compressed bytes, as `bills.sha256` has them); NULL for a pipe, read once.
    bill_path TEXT NOT NULL,
    bill_sha256 TEXT,
    export_path TEXT NOT NULL,
    export_sha256 TEXT,
    previous_bill_path TEXT,
    previous_bill_sha256 TEXT,
    next_bill_path TEXT,
    next_bill_sha256 TEXT,
    -- The resolved mapping and reading options, as JSON.
    mapping TEXT NOT NULL,
    balanced INTEGER NOT NULL,
    -- The run's summary (totals of both sides), as JSON: reconcile's summary.json.
    summary TEXT NOT NULL,
    -- Set when a later run of the same day replaced this one's open differences.
    superseded_by INTEGER REFERENCES runs (id)
);
CREATE INDEX runs_by_day ON runs (mch_id, day);

-- Counts and sums per category of one run (matched included), every category once. A
-- refund counts negative, as in summary.json.
CREATE TABLE run_categories (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    category TEXT NOT NULL,
    count INTEGER NOT NULL,
    bill_fen INTEGER NOT NULL,
    export_fen INTEGER NOT NULL,
    PRIMARY KEY (run_id, category)
) WITHOUT ROWID;

-- A payment or refund a run found not matched, and what became of it.
CREATE TABLE differences (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    mch_id TEXT,
    day TEXT NOT NULL,
    category TEXT NOT NULL,
    -- payment, refund (keyed by out_refund_no), or order_refund (refunds summed per order).
    kind TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    out_refund_no TEXT,
    bill_fen INTEGER,
    bill_time INTEGER,
    bill_line INTEGER,
    export_fen INTEGER,
    export_time INTEGER,
    export_line INTEGER,
    export_status TEXT,
    note TEXT NOT NULL,
    -- open; closed (a run of another day found its counterpart); resolved (by hand);
    -- superseded (the day was reconciled again).
    state TEXT NOT NULL DEFAULT 'open',
    -- When it was closed or resolved.
    closed_at TEXT,
    -- The run that found its counterpart, and that run's day.
    closed_by_run INTEGER REFERENCES runs (id),
    closed_day TEXT,
    -- The other half: the difference of that run that was its counterpart, when there was
    -- one (each of the two names the other).
    closed_with INTEGER REFERENCES differences (id),
    resolved_by TEXT,
    resolution TEXT,
    -- What a run of another day saw of it that did not close it (another amount, a status
    -- that is no payment).
    seen TEXT,
    -- A re-run's difference that an earlier run of the day had closed or resolved, the same
    -- in category, key and amounts: that difference, whose state it keeps.
    carried_from INTEGER REFERENCES differences (id)
);
CREATE INDEX differences_open ON differences (mch_id, day) WHERE state = 'open';
CREATE INDEX differences_by_order ON differences (out_trade_no);
CREATE INDEX differences_by_run ON differences (run_id);
