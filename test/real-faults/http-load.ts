// Load for a server under faults: a few concurrent clients PUT, DELETE and GET small and ~100 KB
// values on keys of their own, and one of them asks for a compaction or a snapshot now and then.
// Every answer goes into a WriteLedger, and every read is checked against it at once.
import { versionedValue } from "../fixtures/values.ts";
import type { WriteLedger } from "./write-ledger.ts";

export interface LoadPlan {
  clients: number;
  opsPerClient: number;
  keysPerClient: number;
  /** Client 0 posts /admin/compact or /admin/snapshot (in turn) before every `adminEvery`th op. */
  adminEvery: number;
}

// Six keys against a cycle of five ops: over 30 ops every key gets every kind of op.
export const defaultLoad: LoadPlan = { clients: 4, opsPerClient: 40, keysPerClient: 6, adminEvery: 8 };

export interface AdminOutcome {
  path: "/admin/compact" | "/admin/snapshot";
  /** The HTTP status; 0 when no answer came. */
  status: number;
  sentAt: number;
  answeredAt: number;
}

const LARGE_BYTES = 100 * 1024;

/** Runs the plan against `origin`; returns what the admin requests were answered. */
export async function runLoad(origin: string, plan: LoadPlan, ledger: WriteLedger): Promise<AdminOutcome[]> {
  const admin: AdminOutcome[] = [];
  await Promise.all(
    Array.from({ length: plan.clients }, async (_, client) => {
      for (let op = 0; op < plan.opsPerClient; op++) {
        if (client === 0 && op % plan.adminEvery === plan.adminEvery - 1) {
          const path = admin.length % 2 === 0 ? "/admin/compact" : "/admin/snapshot";
          const sentAt = ledger.tick();
          const status = await statusOf(
            ledger,
            `POST ${path}`,
            fetch(`${origin}${path}`, { method: "POST" }),
          );
          admin.push({ path, status, sentAt, answeredAt: ledger.tick() });
        }
        await runOp(origin, ledger, client, op, plan.keysPerClient);
      }
    }),
  );
  return admin;
}

/** Reads every key the ledger knows; returns what was wrong (nothing, if the server is right). */
export async function readBack(origin: string, ledger: WriteLedger): Promise<string[]> {
  const problems: string[] = [];
  for (const key of ledger.keys) {
    const response = await fetch(blobUrl(origin, key));
    const problem = ledger.checkRead(key, response.status, new Uint8Array(await response.arrayBuffer()));
    if (problem !== null) problems.push(problem);
  }
  return problems;
}

/** Op `op` of `client`: small PUT, large PUT, GET, small PUT, DELETE, over and over. */
async function runOp(origin: string, ledger: WriteLedger, client: number, op: number, keys: number) {
  const key = `client-${client}/key-${(op + client) % keys}`;
  const url = blobUrl(origin, key);
  const sentAt = ledger.tick();
  switch (op % 5) {
    case 0:
    case 1:
    case 3: {
      const length = op % 5 === 1 ? LARGE_BYTES + ((op * 37) % 1024) : 64 + ((op * 131) % 2048);
      const value = versionedValue(client * 100_000 + op + 1, length);
      const status = await statusOf(ledger, `PUT ${key}`, fetch(url, { method: "PUT", body: value }));
      ledger.recordPut(key, value, status, sentAt);
      return;
    }
    case 2: {
      const response = await fetch(url).catch(() => null);
      if (response === null) {
        ledger.problems.push(`GET ${key} got no answer`);
        return;
      }
      const problem = ledger.checkRead(key, response.status, new Uint8Array(await response.arrayBuffer()));
      if (problem !== null) ledger.problems.push(problem);
      return;
    }
    default: {
      const status = await statusOf(ledger, `DELETE ${key}`, fetch(url, { method: "DELETE" }));
      ledger.recordDelete(key, status, sentAt);
    }
  }
}

/** The status of the response (its body read), or 0 and a problem noted if none came. */
async function statusOf(ledger: WriteLedger, what: string, request: Promise<Response>): Promise<number> {
  try {
    const response = await request;
    await response.arrayBuffer();
    return response.status;
  } catch (error) {
    ledger.problems.push(`${what} got no answer: ${error instanceof Error ? error.message : String(error)}`);
    return 0;
  }
}

function blobUrl(origin: string, key: string): string {
  return `${origin}/blobs/${encodeURIComponent(key)}`;
}
