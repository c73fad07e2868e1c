// The PairingSession's schema, as append-only migrations (see ../migrations.ts).
// Version 1 is the schema live sessions had before migrations existed, written
// so that their tables are adopted as they are. A session's database is
// created at its first durable state with SESSION_SCHEMA, the migrations'
// result in one step.
import { versionMarker, type FreshSchema, type Migration } from "../migrations";

export const SESSION_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "session row and relay frames",
    sql: `
      CREATE TABLE IF NOT EXISTS session (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        session_id TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        device TEXT NOT NULL,
        token TEXT,
        token_seq INTEGER NOT NULL DEFAULT 0,
        token_expires_at INTEGER NOT NULL DEFAULT 0,
        previous_token TEXT,
        previous_expires_at INTEGER,
        failed_scans INTEGER NOT NULL DEFAULT 0,
        scanned_by TEXT,
        scanned_at INTEGER,
        account_number TEXT,
        account_name TEXT,
        phone_public_key TEXT,
        confirmation TEXT,
        device_public_key TEXT,
        to_browser_received INTEGER NOT NULL DEFAULT 0,
        to_browser_delivered INTEGER NOT NULL DEFAULT 0,
        to_phone_received INTEGER NOT NULL DEFAULT 0,
        to_phone_delivered INTEGER NOT NULL DEFAULT 0,
        browser_active_at INTEGER,
        to_browser_buffered_bytes INTEGER NOT NULL DEFAULT 0,
        to_phone_buffered_bytes INTEGER NOT NULL DEFAULT 0,
        end_reason TEXT
      );
      CREATE TABLE IF NOT EXISTS frame (
        direction TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (direction, seq)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: "outbox of calls to the Account that must happen until they succeed",
    sql: `
      CREATE TABLE outbox (
        kind TEXT NOT NULL,
        account_number TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at INTEGER NOT NULL,
        PRIMARY KEY (kind, account_number)
      );
    `,
  },
  {
    version: 3,
    name: "whether the session handed out its link id; from then on its session id reaches no relay",
    sql: `ALTER TABLE session ADD COLUMN link_id_issued INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    version: 4,
    name: "code sessions: linking with a code typed on the phone instead of a QR scan",
    sql: `
      ALTER TABLE session ADD COLUMN kind TEXT NOT NULL DEFAULT 'qr';
      ALTER TABLE session ADD COLUMN code_number TEXT;
      ALTER TABLE session ADD COLUMN code_browser_share TEXT;
      ALTER TABLE session ADD COLUMN code_browser_public_key TEXT;
      ALTER TABLE session ADD COLUMN code_expires_at INTEGER;
      ALTER TABLE session ADD COLUMN code_checked_at INTEGER;
    `,
  },
  {
    version: 5,
    name: "the outbox kept by its key alone (WITHOUT ROWID): an entry added or removed writes one row, not two",
    sql: `
      CREATE TABLE outbox_by_key (
        kind TEXT NOT NULL,
        account_number TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at INTEGER NOT NULL,
        PRIMARY KEY (kind, account_number)
      ) WITHOUT ROWID;
      INSERT INTO outbox_by_key (kind, account_number, attempts, due_at) SELECT kind, account_number, attempts, due_at FROM outbox;
      DROP TABLE outbox;
      ALTER TABLE outbox_by_key RENAME TO outbox;
    `,
  },
  {
    version: 6,
    name: "the device slot a confirming session is owed is its state, not an outbox entry: its retries are kept in the session row",
    sql: `
      ALTER TABLE session ADD COLUMN add_device_attempts INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE session ADD COLUMN add_device_due_at INTEGER;
      UPDATE session SET
        add_device_attempts = coalesce((SELECT attempts FROM outbox WHERE kind = 'add_device'), 0),
        add_device_due_at = (SELECT due_at FROM outbox WHERE kind = 'add_device');
      DELETE FROM outbox WHERE kind = 'add_device';
    `,
  },
  {
    version: 7,
    name: "the removal an ended session owes is its state too, kept in the session row; the outbox table goes, so a new session creates one table fewer",
    sql: `
      ALTER TABLE session ADD COLUMN remove_device_attempts INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE session ADD COLUMN remove_device_due_at INTEGER;
      UPDATE session SET
        account_number = coalesce((SELECT account_number FROM outbox WHERE kind = 'remove_device'), account_number),
        remove_device_attempts = coalesce((SELECT attempts FROM outbox WHERE kind = 'remove_device'), 0),
        remove_device_due_at = (SELECT due_at FROM outbox WHERE kind = 'remove_device');
      DROP TABLE outbox;
    `,
  },
  {
    version: 8,
    name: "relay frames in a table per direction keyed by seq (the rowid): a 1.4 KB frame fits in its leaf page instead of overflowing a WITHOUT ROWID page",
    sql: `
      CREATE TABLE frame_to_browser (seq INTEGER PRIMARY KEY, data TEXT NOT NULL);
      CREATE TABLE frame_to_phone (seq INTEGER PRIMARY KEY, data TEXT NOT NULL);
      INSERT INTO frame_to_browser (seq, data) SELECT seq, data FROM frame WHERE direction = 'to_browser';
      INSERT INTO frame_to_phone (seq, data) SELECT seq, data FROM frame WHERE direction = 'to_phone';
      DROP TABLE frame;
    `,
  },
  {
    version: 9,
    name: "relay frames of both directions in one table keyed by the rowid, seq toward the browser and -seq toward the phone: a new session creates one table fewer",
    sql: `
      CREATE TABLE relay_frame (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
      INSERT INTO relay_frame (id, data) SELECT seq, data FROM frame_to_browser;
      INSERT INTO relay_frame (id, data) SELECT -seq, data FROM frame_to_phone;
      DROP TABLE frame_to_browser;
      DROP TABLE frame_to_phone;
    `,
  },
];

/** The tables the migrations above leave, created at once (a test compares the two); a new migration changes this too. */
export const SESSION_SCHEMA: FreshSchema = {
  version: 9,
  sql: `
    CREATE TABLE session (
      ${versionMarker(9)}
      id INTEGER PRIMARY KEY CHECK (id = 1),
      session_id TEXT NOT NULL,
      state TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      device TEXT NOT NULL,
      token TEXT,
      token_seq INTEGER NOT NULL DEFAULT 0,
      token_expires_at INTEGER NOT NULL DEFAULT 0,
      previous_token TEXT,
      previous_expires_at INTEGER,
      failed_scans INTEGER NOT NULL DEFAULT 0,
      scanned_by TEXT,
      scanned_at INTEGER,
      account_number TEXT,
      account_name TEXT,
      phone_public_key TEXT,
      confirmation TEXT,
      device_public_key TEXT,
      to_browser_received INTEGER NOT NULL DEFAULT 0,
      to_browser_delivered INTEGER NOT NULL DEFAULT 0,
      to_phone_received INTEGER NOT NULL DEFAULT 0,
      to_phone_delivered INTEGER NOT NULL DEFAULT 0,
      browser_active_at INTEGER,
      to_browser_buffered_bytes INTEGER NOT NULL DEFAULT 0,
      to_phone_buffered_bytes INTEGER NOT NULL DEFAULT 0,
      end_reason TEXT,
      link_id_issued INTEGER NOT NULL DEFAULT 0,
      kind TEXT NOT NULL DEFAULT 'qr',
      code_number TEXT,
      code_browser_share TEXT,
      code_browser_public_key TEXT,
      code_expires_at INTEGER,
      code_checked_at INTEGER,
      add_device_attempts INTEGER NOT NULL DEFAULT 0,
      add_device_due_at INTEGER,
      remove_device_attempts INTEGER NOT NULL DEFAULT 0,
      remove_device_due_at INTEGER
    );
    CREATE TABLE relay_frame (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
  `,
};
