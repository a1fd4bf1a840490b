// The one connection of a DuckDB target (duckdb.ts) and the queue that serialises every use
// of it: opened on first use (@duckdb/node-api loaded then), waited for while another process
// holds the file (duckdb-busy-wait.ts), closed when idle or done. A read-only target whose
// file does not exist yet has no connection: its reads are empty, and its stages run on an
// in-memory database instead. Every failure leaves here an MlbridgeError naming the resource.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { MlbridgeError, errorMessage, isMlbridgeError } from '../model/errors.js';
import type { DuckSql, Json } from './duckdb-catalog.js';
import { duckMessage, fileInUse, folderError } from './duckdb-errors.js';
import { openWhenFree, type BusyWaitOptions } from './duckdb-busy-wait.js';
import { memorySettings } from './duckdb-memory.js';

type DuckModule = typeof import('@duckdb/node-api');

export class DuckDbHost {
  private mod: DuckModule | null = null;
  private instance: DuckDBInstance | null = null;
  private conn: DuckDBConnection | null = null;
  private opening: Promise<DuckDBConnection | null> | null = null;
  /** In-memory database that stages rows when a read-only target's file does not exist yet. */
  private scratch: { instance: DuckDBInstance; conn: DuckDBConnection } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  readonly sql: DuckSql = {
    run: (conn, sql, values) => this.run(conn, sql, values),
    rows: (conn, sql, values) => this.rows(conn, sql, values),
  };

  constructor(
    private readonly path: string,
    private readonly readOnly: boolean,
    /** The target's location, the resource an open failure names. */
    private readonly location: string,
    /** plan/apply --lock-timeout: how long an open waits for a file another process holds. */
    private readonly busyWait: BusyWaitOptions,
    /** Called as the database closes, before anything else: what the warehouse remembers about the file goes. */
    private readonly forget: () => void,
  ) {}

  /** The connection, opened on first use; null when read-only and the file does not exist. */
  db(): Promise<DuckDBConnection | null> {
    if (!this.opening) this.opening = this.openDb();
    return this.opening;
  }

  private async openDb(): Promise<DuckDBConnection | null> {
    if (this.readOnly && !existsSync(this.path)) return null;
    const mod = (this.mod = await import('@duckdb/node-api'));
    try {
      // --lock-timeout: a file another process holds is waited for, before anything is written.
      return await openWhenFree(() => this.openOnce(mod), this.busyWait);
    } catch (e) {
      this.opening = null;
      throw e;
    }
  }

  private async openOnce(mod: DuckModule): Promise<DuckDBConnection> {
    try {
      if (!this.readOnly) {
        await mkdir(dirname(this.path), { recursive: true }).catch((e: unknown) => {
          throw folderError(dirname(this.path), e);
        });
      }
      this.instance = await mod.DuckDBInstance.create(this.path, { access_mode: this.readOnly ? 'READ_ONLY' : 'READ_WRITE', ...memorySettings(`${this.path}.tmp`, this.readOnly) });
      this.conn = await this.instance.connect();
      await this.conn.run(`SET TimeZone='UTC'`);
      return this.conn;
    } catch (e) {
      if (isMlbridgeError(e)) throw e;
      // Another process holds the file: TARGET_BUSY (transient; serve answers 503), its holder named.
      const busy = fileInUse(e);
      if (busy) throw busy;
      const msg = errorMessage(e);
      throw new MlbridgeError('TARGET_ERROR', `Cannot open the DuckDB file ${this.path}: ${msg}`, { resource: this.location, cause: e });
    }
  }

  /** A second connection to the open database (db() resolved to one), for a long read that must not hold up the queue. */
  connectAnother(): Promise<DuckDBConnection> {
    return this.instance!.connect();
  }

  private async writable(resource: string): Promise<DuckDBConnection> {
    if (this.readOnly) throw new MlbridgeError('TARGET_ERROR', `${resource}: ${this.path} was opened read-only`, { resource });
    return (await this.db())!;
  }

  /** One statement, values bound as VARCHAR (casts happen in SQL). */
  async run(conn: DuckDBConnection, sql: string, values: (string | null)[] = []) {
    if (values.length === 0) return conn.run(sql);
    return conn.run(sql, values, values.map(() => this.mod!.VARCHAR));
  }

  async rows(conn: DuckDBConnection, sql: string, values: (string | null)[] = []): Promise<Record<string, Json>[]> {
    const r = values.length === 0 ? await conn.runAndReadAll(sql) : await conn.runAndReadAll(sql, values, values.map(() => this.mod!.VARCHAR));
    return r.getRowObjectsJson() as Record<string, Json>[];
  }

  /**
   * Serialises work on the one connection; DDL runs inside a transaction. `prepare` runs
   * first on the same connection, in the same turn (nothing else runs between it and the
   * transaction), outside the transaction: for scratch tables the transaction reads, since
   * DuckDB scans a table created inside an open transaction on one thread only (a 1M-row
   * backfill's inserts into raw and current took 2.9 s and 3.1 s instead of 1.7 s and 1.8 s).
   */
  tx<T>(resource: string, fn: (conn: DuckDBConnection) => Promise<T>, prepare?: (conn: DuckDBConnection) => Promise<void>): Promise<T> {
    const next = this.queue.then(async () => {
      const conn = await this.writable(resource);
      try {
        await prepare?.(conn);
      } catch (e) {
        if (isMlbridgeError(e)) throw e;
        throw new MlbridgeError('TARGET_ERROR', `${resource}: ${duckMessage(e)}`, { resource, cause: e });
      }
      await conn.run('BEGIN TRANSACTION');
      try {
        const r = await fn(conn);
        await conn.run('COMMIT');
        return r;
      } catch (e) {
        try {
          await conn.run('ROLLBACK');
        } catch {
          // The transaction may already be aborted; nothing more to undo.
        }
        if (isMlbridgeError(e)) throw e;
        throw new MlbridgeError('TARGET_ERROR', `${resource}: ${duckMessage(e)}`, { resource, cause: e });
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  read<T>(resource: string, fn: (conn: DuckDBConnection) => Promise<T>, empty: T): Promise<T> {
    const next = this.queue.then(async () => {
      const conn = await this.db();
      if (!conn) return empty;
      try {
        return await fn(conn);
      } catch (e) {
        if (isMlbridgeError(e)) throw e;
        throw new MlbridgeError('TARGET_ERROR', `${resource}: ${duckMessage(e)}`, { resource, cause: e });
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Runs fn on the connection staging uses (see stageConn), serialised with the other work. */
  use<T>(resource: string, fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      try {
        return await fn(await this.stageConn());
      } catch (e) {
        if (isMlbridgeError(e)) throw e;
        throw new MlbridgeError('TARGET_ERROR', `${resource}: ${duckMessage(e)}`, { resource, cause: e });
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The connection staging uses: the target's, else (plan on a fresh target) an in-memory one. */
  private async stageConn(): Promise<DuckDBConnection> {
    const c = await this.db();
    if (c) return c;
    if (!this.scratch) {
      this.mod ??= await import('@duckdb/node-api');
      const instance = await this.mod.DuckDBInstance.create(':memory:', memorySettings(join(tmpdir(), `mlbridge-duckdb-${process.pid}`), this.readOnly));
      const conn = await instance.connect();
      await conn.run(`SET TimeZone='UTC'`);
      this.scratch = { instance, conn };
    }
    return this.scratch.conn;
  }

  async close(): Promise<void> {
    await this.queue;
    this.closeNow();
  }

  /**
   * serve, idle: closes the file so another process (an apply run by hand) may open it. Queued
   * behind the work already queued, so it never closes under an operation, and skipped when
   * `stillIdle()` says work arrived meanwhile. The next operation reopens the file (db()).
   */
  releaseIdle(stillIdle: () => boolean): Promise<void> {
    const next = this.queue.then(() => {
      if (stillIdle()) this.closeNow();
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private closeNow(): void {
    // Once closed, another process may change the file: nothing remembered about it holds.
    this.forget();
    this.conn?.closeSync();
    this.instance?.closeSync();
    this.scratch?.conn.closeSync();
    this.scratch?.instance.closeSync();
    this.scratch = null;
    this.conn = null;
    this.instance = null;
    this.opening = null;
  }
}
