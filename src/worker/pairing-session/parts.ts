// What the session's concern modules share: the object's state, its config
// and its storage, sockets and in-memory allowances.
import type { SessionConfig } from "../config";
import type { Allowance } from "./allowance";
import type { SqlFrameStore } from "./frame-store";
import type { Sockets } from "./sockets";
import type { SessionStore } from "./store";

export interface SessionParts {
  ctx: DurableObjectState;
  env: Env;
  config: SessionConfig;
  store: SessionStore;
  frames: SqlFrameStore;
  sockets: Sockets;
  /** Per socket, in memory only. */
  allowances: Map<WebSocket, Allowance>;
}
