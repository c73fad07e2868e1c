// Test helpers for linking with a code: a browser that opens a code session
// and answers the phone's tries with the real browser code (code-pairing.ts).
import { env } from "cloudflare:test";
import { BrowserCodePairing } from "../../src/clients/browser/code-pairing";
import { workerFetch, ORIGIN, randomAddress, TestSocket, type BrowserConnection } from "./helpers";

export class CodeBrowser extends TestSocket {
  pairing!: BrowserCodePairing;
  /** The numbers this browser showed, one per try that verified. */
  readonly shown: string[] = [];

  /** Opens a code session from `connection.ip` (else an address of its own) and asks for a code for `number`; it answers every try as the page does. */
  static async open(number: string, connection: BrowserConnection & { code?: string; answers?: boolean } = {}): Promise<CodeBrowser> {
    const browser = await CodeBrowser.openSocket(connection);
    browser.pairing = await BrowserCodePairing.create(connection.code);
    // A browser that does not answer lets a test hold a try open (answers: false).
    if (connection.answers !== false) browser.answerTries();
    await browser.waitFor("session");
    browser.send(browser.pairing.request(browser.sessionId, new URL(ORIGIN).host, number));
    return browser;
  }

  /** The upgrade alone: a test that counts refusals sends its own request. */
  static async openSocket(connection: BrowserConnection = {}): Promise<CodeBrowser> {
    const headers = { upgrade: "websocket", origin: ORIGIN, "cf-connecting-ip": connection.ip ?? randomAddress() };
    const response = await workerFetch("/api/code-sessions/connect", { headers, cf: connection.cf });
    if (response.status !== 101 || !response.webSocket) throw new Error(`upgrade failed: ${response.status} ${await response.text()}`);
    return new CodeBrowser(response.webSocket);
  }

  /** Checks every try as the page does, and tells the server its verdict. */
  private answerTries(): void {
    this.subscribe((message) => {
      if (message.type !== "code_try") return;
      void this.pairing.check(message).then((verdict) => {
        if (verdict.match) this.shown.push(verdict.number);
        this.send({ type: "code_verdict", match: verdict.match });
      });
    });
  }

  get sessionId(): string {
    return this.all("session")[0]!.sessionId;
  }

  get stub() {
    return env.PAIRING_SESSION.getByName(this.sessionId);
  }
}
