// The browser's half of linking, free of the DOM so tests can drive it: the
// per-session key pair and qrSecret, the QR text, the number to show once a
// phone scanned, and the check of the phone's confirmation before anything
// is trusted.
import { deriveLinkKeys, generateAgreementKeyPair, randomBase64url, verifyConfirmation, type AgreementKeyPair, type LinkKeys } from "../../shared/crypto";
import { matchingNumber } from "../../shared/number-matching";
import { formatQrText, type ServerMessage } from "../../shared/protocol";

type LinkedMessage = Extract<ServerMessage, { type: "linked" }>;
type ScannedMessage = Extract<ServerMessage, { type: "scanned" }>;

/** The phone that scanned: the key it committed to, and the link keys derived with it. */
interface Scan {
  sessionId: string;
  phonePublicKey: string;
  keys: LinkKeys;
}

export class BrowserPairing {
  private scan: Scan | null = null;

  private constructor(
    private readonly keyPair: AgreementKeyPair,
    /** 16 random bytes that only the QR carries: the server never sees them. */
    private readonly qrSecret: string,
  ) {}

  static async create(): Promise<BrowserPairing> {
    return new BrowserPairing(await generateAgreementKeyPair(), randomBase64url(16));
  }

  /** A code link's pairing: the browser's key pair, with the secret the PAKE gave standing for the qrSecret (code-pairing.ts). */
  static withSecret(keyPair: AgreementKeyPair, secret: string): BrowserPairing {
    return new BrowserPairing(keyPair, secret);
  }

  qrText(origin: string, sessionId: string, token: string): string {
    return formatQrText(origin, { sessionId, token, browserPublicKey: this.keyPair.publicKey, qrSecret: this.qrSecret });
  }

  /**
   * A phone scanned: the two digits to show, derived from the key agreement
   * with the key it committed to. Remembers that key: only a `linked` that
   * carries it is trusted. Null when the key cannot be used.
   */
  async scanned(sessionId: string, message: ScannedMessage): Promise<string | null> {
    const keys = await deriveLinkKeys(this.keyPair.privateKey, message.phonePublicKey, this.qrSecret, sessionId);
    if (!keys) return null;
    this.scan = { sessionId, phonePublicKey: message.phonePublicKey, keys };
    return matchingNumber(keys, { sessionId, browserPublicKey: this.keyPair.publicKey, phonePublicKey: message.phonePublicKey });
  }

  /**
   * The link keys when the phone's MAC proves it read this QR, with the key
   * whose number this browser showed, for the account number and name the
   * message carries; null otherwise.
   */
  async verifyLinked(sessionId: string, message: LinkedMessage): Promise<LinkKeys | null> {
    const scan = this.scan;
    if (!scan || scan.sessionId !== sessionId || scan.phonePublicKey !== message.phonePublicKey) return null;
    const transcript = {
      sessionId,
      browserPublicKey: this.keyPair.publicKey,
      phonePublicKey: message.phonePublicKey,
      number: message.account.number,
      name: message.account.name,
    };
    return (await verifyConfirmation(scan.keys, transcript, message.confirmation)) ? scan.keys : null;
  }

  /** Whether the phone's confirmation MAC verifies for the scan this browser knows, as `linked` will carry it. */
  async confirms(sessionId: string, message: Omit<LinkedMessage, "type" | "linkId">): Promise<boolean> {
    return (await this.verifyLinked(sessionId, { ...message, type: "linked", linkId: "" })) !== null;
  }
}
