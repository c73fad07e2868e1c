import { describe, expect, it } from "vitest";
import { errorCode, ORIGIN, workerFetch } from "./helpers";

describe("the Worker's HTTP edges", () => {
  it("refuses a WebSocket upgrade from another origin, or with no origin", async () => {
    const upgrades: Record<string, string>[] = [{ upgrade: "websocket", origin: "https://evil.example" }, { upgrade: "websocket" }];
    for (const headers of upgrades) {
      const response = await workerFetch("/api/sessions/connect", { headers });
      expect(response.status).toBe(403);
      expect(await errorCode(response)).toBe("forbidden_origin");
    }
  });

  it("accepts an upgrade from an origin in ALLOWED_ORIGINS", async () => {
    const response = await workerFetch("/api/sessions/connect", { headers: { upgrade: "websocket", origin: "https://partner.example" } });
    expect(response.status).toBe(101);
    response.webSocket!.accept();
    response.webSocket!.close();
  });

  it("asks for an upgrade on the session endpoint", async () => {
    const response = await workerFetch("/api/sessions/connect", { headers: { origin: ORIGIN } });
    expect(response.status).toBe(426);
    expect(await errorCode(response)).toBe("upgrade_required");
  });

  it("answers unknown API routes with a JSON 404", async () => {
    const response = await workerFetch("/api/nope", { method: "POST" });
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toMatch(/application\/json/);
    expect(await errorCode(response)).toBe("not_found");
  });
});
