// Versioned, append-only schema migrations for a Durable Object's SQLite.
// Live objects keep their data across deploys, so a schema never changes in
// place: a change is a new entry at the end of the list, and each object runs
// the entries it has not run yet, in one transaction each, recorded in
// `_migration`. Migrations run only on a path that creates state, so an
// object that is merely asked about keeps no database at all.
//
// An object created with the whole current schema at once (`createFresh`)
// keeps its version in the text of its first CREATE TABLE, as a comment that
// SQLite keeps in `sqlite_master`: every table costs rows written (two of
// `sqlite_master`'s), so a `_migration` table and its row would be three
// more rows on every new object. `_migration` is created by the first
// migration the object runs, and from then on says the version.

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
 * the migrated one). `version` is the last migration's; `sql` carries
 * `versionMarker(version)` inside its first CREATE TABLE, so that later
 * migrations run from there.
 */
export interface FreshSchema {
  version: number;
  sql: string;
}

const MARKER_START = "/* schema version ";
const MARKED_VERSION = /\/\* schema version (\d+) \*\//;

/** The comment a fresh schema's first CREATE TABLE carries: where its version is kept. */
export function versionMarker(version: number): string {
  return `${MARKER_START}${version} */`;
}

/** Creates the current schema on an object without state, in one transaction; returns its version. */
export function createFresh(storage: DurableObjectStorage, schema: FreshSchema): number {
  if (!schema.sql.includes(versionMarker(schema.version))) throw new Error(`a fresh schema carries ${versionMarker(schema.version)} in its first CREATE TABLE`);
  storage.transactionSync(() => storage.sql.exec(schema.sql));
  return schema.version;
}

/**
 * The version an object's schema is at: the last migration it recorded, or
 * the version it was created at, or 0 for tables from before migrations
 * existed (and for no tables at all).
 */
export function schemaVersion(storage: DurableObjectStorage): number {
  const sql = storage.sql;
  const marked = sql.exec<{ name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND (name = '_migration' OR sql LIKE ?)", `%${MARKER_START}%`).toArray();
  if (marked.some((table) => table.name === "_migration")) return sql.exec<{ version: number | null }>("SELECT max(version) AS version FROM _migration").one().version ?? 0;
  const created = marked.map((table) => MARKED_VERSION.exec(table.sql)?.[1]).find((version) => version !== undefined);
  return created === undefined ? 0 : Number(created);
}

/** Runs every migration newer than the object's; returns the version it is at. */
export function migrate(storage: DurableObjectStorage, migrations: readonly Migration[]): number {
  const sql = storage.sql;
  let current = schemaVersion(storage);
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    if (migration.version !== current + 1) throw new Error(`migration ${migration.version} follows ${current}: versions must be consecutive`);
    storage.transactionSync(() => {
      sql.exec(MIGRATION_TABLE);
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
