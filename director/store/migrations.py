"""The database schema: the ordered migrations Database.open applies (PRAGMA user_version says
which have run)."""

from __future__ import annotations

# Each entry runs once, in order, inside one transaction; never edit a released entry:
# append a new one.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE operator_state (
            key TEXT PRIMARY KEY, value TEXT NOT NULL,
            updated_at TEXT NOT NULL, updated_by TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE rules_versions (
            version INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            rules_json TEXT NOT NULL,
            thresholds_json TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE cycles (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            trigger TEXT NOT NULL DEFAULT 'schedule',
            status TEXT NOT NULL DEFAULT 'running',
            brain TEXT, model TEXT,
            rules_version INTEGER,
            escalated INTEGER NOT NULL DEFAULT 0,
            brain_error TEXT,
            cash TEXT, equity TEXT, exposure TEXT, risk REAL,
            cost_usd TEXT NOT NULL DEFAULT '0',
            state_json TEXT, plan_json TEXT, timings_json TEXT, report_json TEXT,
            error TEXT
        );
        CREATE INDEX cycles_started ON cycles (started_at);
        CREATE TABLE actions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            cycle_id INTEGER NOT NULL REFERENCES cycles (id),
            idx INTEGER NOT NULL,
            kind TEXT NOT NULL,
            market TEXT,
            action_json TEXT NOT NULL,
            verdict TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            client_order_id TEXT,
            order_id TEXT,
            outcome_json TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (cycle_id, idx)
        );
        CREATE INDEX actions_status ON actions (status);
        CREATE TABLE approvals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            action_id INTEGER NOT NULL UNIQUE REFERENCES actions (id),
            cycle_id INTEGER NOT NULL REFERENCES cycles (id),
            kind TEXT NOT NULL DEFAULT 'action',
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            decided_by TEXT,
            decided_at TEXT,
            result TEXT,
            chat_id INTEGER,
            message_id INTEGER
        );
        CREATE INDEX approvals_status ON approvals (status);
        CREATE TABLE llm_usage (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            cycle_id INTEGER,
            purpose TEXT NOT NULL,
            tier TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL NOT NULL DEFAULT 0,
            cost_usd TEXT NOT NULL DEFAULT '0',
            ok INTEGER NOT NULL DEFAULT 1,
            error TEXT
        );
        CREATE INDEX llm_usage_created ON llm_usage (created_at);
        """,
    ),
    (
        2,
        """
        CREATE TABLE paper_account (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seed INTEGER NOT NULL,
            n_markets INTEGER NOT NULL,
            step_seconds INTEGER NOT NULL,
            starting_cash TEXT NOT NULL,
            cash TEXT NOT NULL,
            fees_paid TEXT NOT NULL,
            realized_pnl TEXT NOT NULL,
            origin_step INTEGER NOT NULL,
            sim_step INTEGER NOT NULL,
            last_now TEXT NOT NULL,
            next_market_seq INTEGER NOT NULL,
            next_order_seq INTEGER NOT NULL,
            next_fill_seq INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE paper_markets (
            ticker TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            event_ticker TEXT NOT NULL,
            series TEXT NOT NULL,
            title TEXT NOT NULL,
            kind TEXT NOT NULL,
            open_step INTEGER NOT NULL,
            close_step INTEGER NOT NULL,
            x REAL NOT NULL,
            vol REAL NOT NULL,
            jump_p REAL NOT NULL,
            bias REAL NOT NULL,
            bias_sd REAL NOT NULL,
            bias_phi REAL NOT NULL,
            spread INTEGER NOT NULL,
            quote_noise REAL NOT NULL,
            yes_bid INTEGER,
            yes_ask INTEGER,
            last_price INTEGER,
            volume INTEGER NOT NULL,
            status TEXT NOT NULL,
            result TEXT,
            fair_at_close REAL
        );
        CREATE INDEX paper_markets_status ON paper_markets (status, close_step);
        CREATE TABLE paper_orders (
            order_id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            client_order_id TEXT NOT NULL UNIQUE,
            market TEXT NOT NULL,
            side TEXT NOT NULL,
            action TEXT NOT NULL,
            price TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            remaining INTEGER NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX paper_orders_status ON paper_orders (status);
        CREATE TABLE paper_fills (
            fill_id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            order_id TEXT NOT NULL,
            market TEXT NOT NULL,
            side TEXT NOT NULL,
            action TEXT NOT NULL,
            price TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            fee TEXT NOT NULL,
            is_taker INTEGER NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX paper_fills_created ON paper_fills (created_at);
        CREATE TABLE paper_positions (
            market TEXT NOT NULL,
            side TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            cost TEXT NOT NULL,
            PRIMARY KEY (market, side)
        );
        CREATE TABLE paper_settlements (
            market TEXT PRIMARY KEY,
            event_ticker TEXT NOT NULL,
            result TEXT NOT NULL,
            settled_at TEXT NOT NULL,
            fair_at_close REAL NOT NULL,
            yes_quantity INTEGER NOT NULL,
            no_quantity INTEGER NOT NULL,
            cost TEXT NOT NULL,
            payout TEXT NOT NULL,
            pnl TEXT NOT NULL
        );
        CREATE INDEX paper_settlements_at ON paper_settlements (settled_at);
        """,
    ),
    (
        3,
        """
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            trigger TEXT NOT NULL,
            source TEXT NOT NULL,
            rules_version INTEGER NOT NULL,
            report_json TEXT NOT NULL,
            suggestion_json TEXT,
            status TEXT NOT NULL,
            error TEXT,
            decided_by TEXT,
            decided_at TEXT,
            applied_version INTEGER,
            chat_id INTEGER,
            message_id INTEGER
        );
        """,
    ),
    (
        4,
        """
        CREATE TABLE order_intents (
            key TEXT PRIMARY KEY,
            side TEXT NOT NULL,
            action TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX order_intents_at ON order_intents (created_at);
        """,
    ),
    (
        5,
        # Issue 12: the execution state machine of an order (requested → sent → acknowledged |
        # rejected | unknown → reconciled), persisted before and after each exchange call. A
        # row an older version left "executed" without an order id is looked up at start.
        """
        ALTER TABLE actions ADD COLUMN exec_state TEXT;
        ALTER TABLE actions ADD COLUMN sent_at TEXT;
        ALTER TABLE actions ADD COLUMN exec_detail TEXT;
        UPDATE actions SET exec_state = 'sent', sent_at = created_at
            WHERE status = 'executed' AND order_id IS NULL AND client_order_id IS NOT NULL;
        CREATE INDEX actions_exec_state ON actions (exec_state);
        """,
    ),
    (
        6,
        # Issue 15: actions from outside a brain's plan (scripts' intents, operator commands),
        # keyed so a repeated intent is never a second order; and the scripts' heartbeats.
        """
        CREATE TABLE submissions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT UNIQUE,
            origin TEXT NOT NULL,
            action_json TEXT NOT NULL,
            description TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            action_id INTEGER REFERENCES actions (id),
            status TEXT NOT NULL DEFAULT 'pending',
            reason TEXT NOT NULL DEFAULT '',
            approval_id INTEGER,
            order_id TEXT,
            reported_cycle INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX submissions_unreported ON submissions (reported_cycle);
        CREATE TABLE heartbeats (
            name TEXT PRIMARY KEY,
            every_seconds REAL NOT NULL,
            status TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            critical INTEGER NOT NULL DEFAULT 0,
            last_beat_at TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            alerted TEXT NOT NULL DEFAULT ''
        );
        """,
    ),
    (
        7,
        # Cache writes are billed per TTL: the 1-hour ones apart from the 5-minute ones.
        "ALTER TABLE llm_usage ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;",
    ),
]

# A gap or a repeat would make a database skip a migration for good: refuse to import.
if [version for version, _ in MIGRATIONS] != list(range(1, len(MIGRATIONS) + 1)):
    raise RuntimeError("MIGRATIONS must be numbered 1, 2, 3, ... in order")
