// The browser's half of linking with a code, free of the DOM so tests can
// drive it: the code, the X25519 key pair and the CPace share; the check of a
// phone's try (its MAC verifies only with keys from the same code); then, for
// a try that verified, the number to show and the check of `linked`, as a QR
// scan's (pairing.ts).
import { codeLinkSecret, codeShare, type CodeShare } from "../../shared/code-exchange";
import { generateAgreementKeyPair, type AgreementKeyPair, type LinkKeys } from "../../shared/crypto";
import { generateLinkCode, LINK_CODE_TRIES } from "../../shared/link-code";
import type { ServerMessageOf } from "../../shared/protocol";
import { BrowserPairing } from "./pairing";

/** What the browser checks of a try: a match with the number to show, or no match. */
export type TryVerdict = { match: true; number: string } | { match: false };

export class BrowserCodePairing {
  /** Set once the browser named its number (`request`). */
  private exchange: { sessionId: string; host: string; number: string; own: CodeShare } | null = null;
  /** The pairing of the try that verified; only its `linked` is trusted. */
  private accepted: BrowserPairing | null = null;
  /**
   * Wrong tries this browser has seen. It refuses every try after the last
   * one allowed, whatever the server says, so a server that keeps a session
   * open cannot go on guessing.
   */
  private wrongTries = 0;

  private constructor(
    /** Made here, shown on screen, never sent. */
    readonly code: string,
    private readonly keyPair: AgreementKeyPair,
  ) {}

  static async create(code = generateLinkCode()): Promise<BrowserCodePairing> {
    return new BrowserCodePairing(code, await generateAgreementKeyPair());
  }

  /** The `code_request` for this session: the number, this browser's share for the code, and its X25519 key. */
  request(sessionId: string, host: string, number: string) {
    const own = codeShare({ code: this.code, sessionId, host, number });
    this.exchange = { sessionId, host, number, own };
    return { type: "code_request", number, browserShare: own.share, browserPublicKey: this.keyPair.publicKey } as const;
  }

  /**
   * The phone tried a code: it matches when the phone's MAC verifies with the
   * keys this browser derives from its own code, for the account the try
   * names; then the number to show, from the phone's committed key.
   */
  async check(message: ServerMessageOf<"code_try">): Promise<TryVerdict> {
    const exchange = this.exchange;
    if (!exchange || this.wrongTries >= LINK_CODE_TRIES) return { match: false };
    const { sessionId, host, number, own } = exchange;
    const secret = codeLinkSecret({ code: this.code, sessionId, host, number }, own, "browser", {
      browserShare: own.share,
      browserPublicKey: this.keyPair.publicKey,
      phoneShare: message.phoneShare,
      phonePublicKey: message.phonePublicKey,
    });
    // The account must be the number this browser asked a code for: a server cannot hand the code to another.
    if (!secret || message.account.number !== number) {
      this.wrongTries++;
      return { match: false };
    }
    const pairing = BrowserPairing.withSecret(this.keyPair, secret);
    const shown = await pairing.scanned(sessionId, { type: "scanned", phonePublicKey: message.phonePublicKey });
    if (shown === null || !(await pairing.confirms(sessionId, message))) {
      this.wrongTries++;
      return { match: false };
    }
    this.accepted = pairing;
    return { match: true, number: shown };
  }

  /** The link keys when `linked` carries the key and MAC of the try that verified; null otherwise. */
  async verifyLinked(message: ServerMessageOf<"linked">): Promise<LinkKeys | null> {
    if (!this.accepted || !this.exchange) return null;
    return this.accepted.verifyLinked(this.exchange.sessionId, message);
  }
}
