// The phone's half of linking with a code: find the code session waiting for
// this phone's number, run the PAKE with the code its user typed, and try it.
// The browser checks the phone's confirmation MAC: a wrong code is refused
// (`wrong_code`, with the tries left), a right one leaves a scan like a QR
// scan's, which the caller confirms (`Phone.confirm`) once the user picked the
// number the computer shows, or rejects.
import { codeLinkSecret, codeShare } from "../../shared/code-exchange";
import { generateAgreementKeyPair } from "../../shared/crypto";
import { parseLinkCode } from "../../shared/link-code";
import { matchingNumber, numberChoices } from "../../shared/number-matching";
import type { CodeFindRequest, CodeFindResponse, CodeTryRequest, QrPayload } from "../../shared/protocol";
import type { Inspection, Phone } from "./phone";

/** A code the browser accepted: the scan to confirm or reject, and what to show the user. */
export interface CodeScan {
  /** Where a QR carries the token, key and qrSecret: here no token, the browser's key, and the secret from the PAKE. */
  qr: QrPayload;
  inspection: Inspection;
}

/** A code that is not 8 characters of the code's alphabet: nothing was sent. */
export class MalformedCodeError extends Error {}

/** `extractableKey` only for the CLI, which keeps the X25519 half in its profile file. */
export async function tryLinkCode(phone: Phone, typed: string, options: { extractableKey?: boolean } = {}): Promise<CodeScan> {
  const code = parseLinkCode(typed);
  if (!code) throw new MalformedCodeError("a link code is 8 letters and digits, as the computer shows it: XXXX-XXXX");
  const found = await phone.post<CodeFindRequest, CodeFindResponse>("/api/link/code/find", {});
  const { sessionId, browserShare, browserPublicKey, ...context } = found;
  const exchangeContext = { code, sessionId, host: phone.host, number: phone.identity.number };
  const own = codeShare(exchangeContext);
  const agreement = await generateAgreementKeyPair(options.extractableKey);
  const secret = codeLinkSecret(exchangeContext, own, "phone", { browserShare, browserPublicKey, phoneShare: own.share, phonePublicKey: agreement.publicKey });
  if (!secret) throw new Error("the computer's code session holds a key that cannot be used");
  const qr: QrPayload = { sessionId, token: "", browserPublicKey, qrSecret: secret };
  phone.commitScan(sessionId, agreement);
  const { body, keys } = await phone.confirmRequest(qr);
  await phone.post<CodeTryRequest, null>("/api/link/code/try", { sessionId, phoneShare: own.share, phonePublicKey: agreement.publicKey, confirmation: body.confirmation });
  const right = await matchingNumber(keys, { sessionId, browserPublicKey, phonePublicKey: agreement.publicKey });
  return { qr, inspection: { ...context, matchingNumber: right, choices: numberChoices(right) } };
}
