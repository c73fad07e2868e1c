// The MediaBlobs object's rows: each blob of the account (its R2 multipart
// upload, the parts stored so far) and the devices that have yet to fetch it.
import type { BlobKind, BlobUploadState } from "../../shared/protocol";
import { hasState, migrate, type Migration } from "../migrations";

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "blobs, their parts, and the devices yet to fetch them",
    sql: `
      CREATE TABLE blob (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        part_count INTEGER NOT NULL,
        upload_id TEXT NOT NULL,
        uploader TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        complete INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX blob_expiry ON blob (expires_at);
      CREATE TABLE blob_part (
        blob_id TEXT NOT NULL REFERENCES blob (id) ON DELETE CASCADE,
        part INTEGER NOT NULL,
        etag TEXT NOT NULL,
        PRIMARY KEY (blob_id, part)
      );
      CREATE TABLE blob_recipient (
        blob_id TEXT NOT NULL REFERENCES blob (id) ON DELETE CASCADE,
        device TEXT NOT NULL,
        PRIMARY KEY (blob_id, device)
      );
    `,
  },
];

type BlobRow = {
  id: string;
  kind: BlobKind;
  size: number;
  part_count: number;
  upload_id: string;
  uploader: string;
  created_at: number;
  expires_at: number;
  complete: number;
};

export interface BlobRecord {
  id: string;
  kind: BlobKind;
  size: number;
  partCount: number;
  uploadId: string;
  /** "phone", or a browser's link id. */
  uploader: string;
  expiresAt: number;
  complete: boolean;
}

export interface NewBlob extends Omit<BlobRecord, "complete"> {
  createdAt: number;
  recipients: string[];
}

export class BlobStore {
  private ready = false;

  constructor(private readonly storage: DurableObjectStorage) {}

  private get sql(): SqlStorage {
    if (!this.ready) {
      migrate(this.storage, MIGRATIONS);
      this.ready = true;
    }
    return this.storage.sql;
  }

  create(blob: NewBlob): void {
    this.storage.transactionSync(() => {
      this.sql.exec(
        "INSERT INTO blob (id, kind, size, part_count, upload_id, uploader, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        blob.id,
        blob.kind,
        blob.size,
        blob.partCount,
        blob.uploadId,
        blob.uploader,
        blob.createdAt,
        blob.expiresAt,
      );
      for (const device of blob.recipients) this.sql.exec("INSERT OR IGNORE INTO blob_recipient (blob_id, device) VALUES (?, ?)", blob.id, device);
    });
  }

  /** Asking about a blob of an account that never stored one creates no database. */
  private empty(): boolean {
    return !this.ready && !hasState(this.storage);
  }

  /** How many blobs the account holds, and their size, complete or not. */
  held(): { blobs: number; bytes: number } {
    return this.sql.exec<{ blobs: number; bytes: number }>("SELECT count(*) AS blobs, coalesce(sum(size), 0) AS bytes FROM blob").one();
  }

  blob(id: string): BlobRecord | null {
    if (this.empty()) return null;
    const row = this.sql.exec<BlobRow>("SELECT * FROM blob WHERE id = ?", id).toArray()[0];
    if (!row) return null;
    return { id: row.id, kind: row.kind, size: row.size, partCount: row.part_count, uploadId: row.upload_id, uploader: row.uploader, expiresAt: row.expires_at, complete: row.complete === 1 };
  }

  parts(id: string): { part: number; etag: string }[] {
    return this.sql.exec<{ part: number; etag: string }>("SELECT part, etag FROM blob_part WHERE blob_id = ? ORDER BY part", id).toArray();
  }

  savePart(id: string, part: number, etag: string): void {
    this.sql.exec("INSERT OR REPLACE INTO blob_part (blob_id, part, etag) VALUES (?, ?, ?)", id, part, etag);
  }

  markComplete(id: string): void {
    this.sql.exec("UPDATE blob SET complete = 1 WHERE id = ?", id);
  }

  recipients(id: string): string[] {
    return this.sql.exec<{ device: string }>("SELECT device FROM blob_recipient WHERE blob_id = ? ORDER BY device", id).toArray().map((row) => row.device);
  }

  /** The device fetched the blob; answers how many devices still have to. */
  fetchedBy(id: string, device: string): number {
    this.sql.exec("DELETE FROM blob_recipient WHERE blob_id = ? AND device = ?", id, device);
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM blob_recipient WHERE blob_id = ?", id).one().n;
  }

  delete(id: string): void {
    this.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM blob_part WHERE blob_id = ?", id);
      this.sql.exec("DELETE FROM blob_recipient WHERE blob_id = ?", id);
      this.sql.exec("DELETE FROM blob WHERE id = ?", id);
    });
  }

  expired(now: number): BlobRecord[] {
    return this.sql.exec<{ id: string }>("SELECT id FROM blob WHERE expires_at <= ?", now).toArray().flatMap((row) => this.blob(row.id) ?? []);
  }

  nextExpiry(): number | null {
    if (this.empty()) return null;
    return this.sql.exec<{ at: number | null }>("SELECT min(expires_at) AS at FROM blob").one().at;
  }

  state(blob: BlobRecord): BlobUploadState {
    return {
      blobId: blob.id,
      kind: blob.kind,
      size: blob.size,
      partCount: blob.partCount,
      uploaded: this.parts(blob.id).map((row) => row.part),
      complete: blob.complete,
      expiresAt: blob.expiresAt,
    };
  }
}
