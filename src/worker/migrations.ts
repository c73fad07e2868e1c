// Versioned, append-only schema migrations for a Durable Object's SQLite.
// Live objects keep their data across deploys, so a schema never changes in
// place: a change is a new entry at the end of the list, and each object runs
// the entries it has not run yet, in one transaction each, recorded in
// `_migration`. Migrations run only on a path that creates state, so an
// object that is merely asked about keeps no database at all.

const MIGRATION_TABLE = "CREATE TABLE IF NOT EXISTS _migration (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";

export interface Migration {
  /** Never renumbered or edited once deployed. */
  version: number;
  /** What it does, kept in `_migration` for whoever reads the database. */
  name: string;
  sql: string;
}

/**
 * The whole current schema, for an object that has no state yet: created in
 * one step instead of replaying every migration (a test keeps it equal to
 * the migrated one). `version` is the last migration's, recorded so that
 * later migrations run from there.
 */
export interface FreshSchema {
  version: number;
  sql: string;
}

/** Creates the current schema on an object without state, in one transaction; returns its version. */
export function createFresh(storage: DurableObjectStorage, schema: FreshSchema): number {
  storage.transactionSync(() => {
    storage.sql.exec(`${MIGRATION_TABLE}; ${schema.sql}`);
    storage.sql.exec("INSERT INTO _migration (version, name, applied_at) VALUES (?, 'created at this version', ?)", schema.version, Date.now());
  });
  return schema.version;
}

/** Runs every migration newer than the object's; returns the version it is at. */
export function migrate(storage: DurableObjectStorage, migrations: readonly Migration[]): number {
  const sql = storage.sql;
  sql.exec(MIGRATION_TABLE);
  let current = sql.exec<{ version: number | null }>("SELECT max(version) AS version FROM _migration").one().version ?? 0;
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    if (migration.version !== current + 1) throw new Error(`migration ${migration.version} follows ${current}: versions must be consecutive`);
    storage.transactionSync(() => {
      sql.exec(migration.sql);
      sql.exec("INSERT INTO _migration (version, name, applied_at) VALUES (?, ?, ?)", migration.version, migration.name, Date.now());
    });
    current = migration.version;
  }
  return current;
}

/**
 * Whether this object has any state. A fresh object's database has no tables
 * of ours (objects from before migrations have tables but no `_migration`),
 * and asking writes nothing.
 */
export function hasState(storage: DurableObjectStorage): boolean {
  return storage.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' LIMIT 1").toArray().length > 0;
}
