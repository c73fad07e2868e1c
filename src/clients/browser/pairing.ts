// The browser's half of linking, free of the DOM so tests can drive it: the
// per-session key pair and qrSecret, the QR text, and the check of the
// phone's confirmation before anything is trusted.
import { deriveLinkKeys, generateAgreementKeyPair, randomBase64url, verifyConfirmation, type AgreementKeyPair, type LinkKeys } from "../../shared/crypto";
import { formatQrText, type ServerMessage } from "../../shared/protocol";

type LinkedMessage = Extract<ServerMessage, { type: "linked" }>;

export class BrowserPairing {
  private constructor(
    private readonly keyPair: AgreementKeyPair,
    /** 16 random bytes that only the QR carries: the server never sees them. */
    private readonly qrSecret: string,
  ) {}

  static async create(): Promise<BrowserPairing> {
    return new BrowserPairing(await generateAgreementKeyPair(), randomBase64url(16));
  }

  qrText(origin: string, sessionId: string, token: string): string {
    return formatQrText(origin, { sessionId, token, browserPublicKey: this.keyPair.publicKey, qrSecret: this.qrSecret });
  }

  /** The link keys when the phone's MAC proves it read this QR; null when it does not. */
  async verifyLinked(sessionId: string, message: LinkedMessage): Promise<LinkKeys | null> {
    const keys = await deriveLinkKeys(this.keyPair.privateKey, message.phonePublicKey, this.qrSecret, sessionId);
    if (!keys) return null;
    const transcript = { sessionId, browserPublicKey: this.keyPair.publicKey, phonePublicKey: message.phonePublicKey, number: message.account.number };
    return (await verifyConfirmation(keys, transcript, message.confirmation)) ? keys : null;
  }
}
