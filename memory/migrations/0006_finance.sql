-- Money: invoices (receivables), bank transactions and the quarantine for statement rows that
-- failed validation. A statement is imported in one transaction: its good rows, its quarantined
-- rows and the invoice updates from reconciliation commit together or not at all.

CREATE TABLE invoices (
    id           bigserial PRIMARY KEY,
    workspace    text NOT NULL,
    number       text NOT NULL CHECK (length(number) > 0),
    contact_id   bigint REFERENCES contacts (id) ON DELETE SET NULL,
    client       text NOT NULL CHECK (length(client) > 0),
    amount       numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency     char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    issued_at    date NOT NULL DEFAULT current_date,
    due_at       date NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'partial', 'paid', 'void')),
    paid_amount  numeric(14, 2) NOT NULL DEFAULT 0 CHECK (paid_amount >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace, number),
    CHECK (due_at >= issued_at)
);
CREATE INDEX invoices_open ON invoices (workspace, due_at) WHERE status IN ('open', 'partial');

-- amount > 0 is money in. external_id is the bank's FITID (OFX) or a content hash (CSV), so a
-- re-imported statement is recognised row by row. 'duplicate' is reserved for a row kept on
-- purpose next to an earlier copy; re-imported rows are not stored at all.
CREATE TABLE transactions (
    id            bigserial PRIMARY KEY,
    workspace     text NOT NULL,
    account       text NOT NULL CHECK (length(account) > 0),
    external_id   text NOT NULL CHECK (length(external_id) > 0),
    posted_at     date NOT NULL,
    amount        numeric(14, 2) NOT NULL CHECK (amount <> 0),
    currency      char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    counterparty  text NOT NULL DEFAULT '',
    memo          text NOT NULL DEFAULT '',
    invoice_id    bigint REFERENCES invoices (id) ON DELETE SET NULL,
    match_status  text NOT NULL DEFAULT 'unmatched'
                  CHECK (match_status IN ('matched', 'partial', 'unmatched', 'duplicate')),
    source        text,
    imported_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace, account, external_id)
);
CREATE INDEX transactions_posted ON transactions (workspace, posted_at);
CREATE INDEX transactions_invoice ON transactions (invoice_id) WHERE invoice_id IS NOT NULL;

-- Statement rows that failed validation, with the line they came from and why.
CREATE TABLE quarantine (
    id          bigserial PRIMARY KEY,
    workspace   text NOT NULL,
    source      text NOT NULL,
    line        int NOT NULL,
    raw         text NOT NULL,
    problem     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_recent ON quarantine (workspace, created_at DESC);
