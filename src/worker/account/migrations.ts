// The Account's schema, as append-only migrations (see ../migrations.ts).
// Version 1 is the schema live accounts had before migrations existed, written
// with IF NOT EXISTS so that their tables are adopted as they are.
import type { Migration } from "../migrations";

export const ACCOUNT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "account row, seen requests, linked devices",
    sql: `
      CREATE TABLE IF NOT EXISTS account (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        number TEXT NOT NULL,
        name TEXT NOT NULL,
        public_key TEXT NOT NULL,
        registered_at INTEGER NOT NULL,
        phone_seen_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS seen_request (
        request_hash TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS device (
        session_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        place TEXT NOT NULL,
        linked_at INTEGER NOT NULL,
        last_active_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "the number's waiting code session (linking with a code)",
    sql: `
      CREATE TABLE code_session (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        session_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: "seen requests and devices kept by their key alone (WITHOUT ROWID): a row added or removed writes one row, not two",
    sql: `
      CREATE TABLE seen_request_by_hash (
        request_hash TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO seen_request_by_hash (request_hash, expires_at) SELECT request_hash, expires_at FROM seen_request;
      DROP TABLE seen_request;
      ALTER TABLE seen_request_by_hash RENAME TO seen_request;
      CREATE TABLE device_by_session (
        session_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        place TEXT NOT NULL,
        linked_at INTEGER NOT NULL,
        last_active_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO device_by_session (session_id, name, place, linked_at, last_active_at) SELECT session_id, name, place, linked_at, last_active_at FROM device;
      DROP TABLE device;
      ALTER TABLE device_by_session RENAME TO device;
    `,
  },
];
